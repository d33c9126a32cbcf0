import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import { AppError } from '../errors/index.ts';
import { type AuthFactor, FACTORS } from './factors.ts';
import { type AuthThrottle, validIp } from './throttle.ts';

/**
 * Durable consecutive-failure counting per account and factor in PostgreSQL
 * (`auth_failure_counters`, ADR-0012). It survives Redis outages and restarts: NIST SP 800-63B
 * §3.2.2 allows at most 100 consecutive failed attempts on one account before the factor locks.
 *
 * Attempts are charged *before* they are evaluated (`chargeAttempt`) and settled afterwards
 * (`settleAttempt`): a success resets the count, the failure that reaches the threshold locks the
 * factor until a password reset or an administrator clears it (`clearFailures`, `unlockAccount`).
 * Charging first keeps the bound exact under parallel bursts: of 150 concurrent guesses at most
 * `threshold` are ever evaluated.
 *
 * An account far enough below the threshold need not be charged first (`UNCHARGED_WITHIN`): while
 * its count is at most `threshold - maxConcurrent`, even if every attempt the throttle lets run at
 * once fails, the count cannot pass the threshold. Such an attempt is counted afterwards
 * (`recordUnchargedFailure`), and a clean sign-in writes nothing here at all (DESIGN §7: at most
 * one PostgreSQL write per completed login).
 */

/** NIST SP 800-63B-4 §3.2.2: no more than 100 consecutive failures. */
export const MAX_LOCKOUT_THRESHOLD = 100;

/** user_id used for attempts on no account: statements run the same way and match nothing. */
export const NO_USER = '00000000-0000-0000-0000-000000000000';

export function assertThreshold(threshold: number): void {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > MAX_LOCKOUT_THRESHOLD) {
    throw new RangeError(`lockout threshold must be an integer from 1 to ${MAX_LOCKOUT_THRESHOLD}`);
  }
}

/**
 * The ON CONFLICT tail of the charge upsert into `auth_failure_counters as c` (one `?`: the
 * threshold). A locked row is left alone (and so returns no row); a count running past the
 * threshold (a burst overtaking the deciding attempt) locks at once.
 */
export const CHARGE_ON_CONFLICT = `
  on conflict (user_id, factor) do update
    set failed_count = c.failed_count + 1,
        first_failed_at = coalesce(c.first_failed_at, now()),
        last_failed_at = now(),
        locked_until = case when c.failed_count + 1 > ? then timestamptz 'infinity' else c.locked_until end
    where c.locked_until is null or c.locked_until <= now()
  returning c.failed_count, (c.locked_until is not null and c.locked_until > now()) as locked`;

/**
 * SQL condition (two `?`: the most attempts the throttle lets run at once on one account, then
 * the threshold) over the columns `prior` (consecutive failures on record) and `prior_locked`:
 * true when an attempt may be evaluated without charging the durable counter first. The bound
 * rests on the throttle (free failures, then one attempt at a time); attempts that stall longer
 * than the throttle's waits can overshoot it by the attempts let through meanwhile (ADR-0012).
 */
export const UNCHARGED_WITHIN = '(not prior_locked and prior + ?::int <= ?::int)';

export interface ChargeResult {
  /** Evaluate the attempt only when true. */
  allowed: boolean;
  /** Consecutive attempts not yet followed by a success, this one included (0 when locked). */
  failedCount: number;
}

/** Interprets the row the charge upsert returned (none = already locked). */
export function chargeOutcome(row: { failed_count: number; locked: boolean } | undefined, threshold: number): ChargeResult {
  if (!row) return { allowed: false, failedCount: 0 };
  const failedCount = Number(row.failed_count);
  return { allowed: !row.locked && failedCount <= threshold, failedCount };
}

/** Counts an attempt on `factor` of an existing user before it is evaluated. */
export async function chargeAttempt(
  db: Knex | Knex.Transaction,
  userId: string,
  factor: AuthFactor,
  threshold: number,
): Promise<ChargeResult> {
  assertThreshold(threshold);
  const res = await db.raw(
    `insert into auth_failure_counters as c (user_id, factor, failed_count, first_failed_at, last_failed_at)
     values (?, ?, 1, now(), now()) ${CHARGE_ON_CONFLICT}`,
    [userId, factor, threshold],
  );
  return chargeOutcome(res.rows[0], threshold);
}

export interface SettleResult {
  /** This failure reached the threshold and locked the factor. */
  lockedNow: boolean;
}

/**
 * Decides a charged attempt. Success: the count starts over (NIST: earlier failures are
 * disregarded). Failure: the count stays; reaching `threshold` locks the factor. `userId` null
 * (no such account) runs the same statement against no row, so both cost the same.
 */
export async function settleAttempt(
  db: Knex | Knex.Transaction,
  userId: string | null,
  factor: AuthFactor,
  outcome: { success: boolean; threshold: number },
): Promise<SettleResult> {
  assertThreshold(outcome.threshold);
  const id = userId ?? NO_USER;
  if (outcome.success) {
    await db('auth_failure_counters').where({ user_id: id, factor }).update({ failed_count: 0, first_failed_at: null, locked_until: null });
    return { lockedNow: false };
  }
  const res = await db.raw(
    `update auth_failure_counters set locked_until = timestamptz 'infinity'
     where user_id = ? and factor = ? and failed_count >= ? and (locked_until is null or locked_until <= now())
     returning failed_count`,
    [id, factor, outcome.threshold],
  );
  return { lockedNow: res.rows.length > 0 };
}

/**
 * Counts the failure of an attempt that was evaluated uncharged (`UNCHARGED_WITHIN`). The failure
 * that brings the count to `threshold` locks the factor, like `settleAttempt`.
 */
export async function recordUnchargedFailure(
  trx: Knex | Knex.Transaction,
  userId: string,
  factor: AuthFactor,
  threshold: number,
): Promise<SettleResult & { failedCount: number }> {
  assertThreshold(threshold);
  const res = await trx.raw(
    `insert into auth_failure_counters as c (user_id, factor, failed_count, first_failed_at, last_failed_at, locked_until)
     values (?, ?, 1, now(), now(), case when 1 >= ? then timestamptz 'infinity' end)
     on conflict (user_id, factor) do update
       set failed_count = c.failed_count + 1,
           first_failed_at = coalesce(c.first_failed_at, now()),
           last_failed_at = now(),
           locked_until = case when c.failed_count + 1 >= ? then timestamptz 'infinity' else c.locked_until end
     returning c.failed_count`,
    [userId, factor, threshold, threshold],
  );
  const failedCount = Number(res.rows[0]?.failed_count ?? 0);
  // Counts grow by one, so exactly one failure reaches the threshold.
  return { lockedNow: failedCount === threshold, failedCount };
}

export interface FactorLockState {
  factor: AuthFactor;
  failedCount: number;
  locked: boolean;
  lastFailedAt: Date | null;
}

/** The counters of one user (administration, account pages). */
export async function getLockState(db: Knex | Knex.Transaction, userId: string): Promise<FactorLockState[]> {
  const rows = await db('auth_failure_counters')
    .where({ user_id: userId })
    .orderBy('factor')
    .select('factor', 'failed_count', 'last_failed_at', db.raw('(locked_until is not null and locked_until > now()) as locked'));
  return rows.map((r) => ({
    factor: r.factor as AuthFactor,
    failedCount: Number(r.failed_count),
    locked: Boolean(r.locked),
    lastFailedAt: r.last_failed_at ?? null,
  }));
}

export async function isLocked(db: Knex | Knex.Transaction, userId: string, factor: AuthFactor): Promise<boolean> {
  const row = await db('auth_failure_counters')
    .where({ user_id: userId, factor })
    .first(db.raw('(locked_until is not null and locked_until > now()) as locked'));
  return Boolean(row?.locked);
}

/**
 * Resets the counters of the given factors (a password reset clears `password`); returns the
 * factors that were locked. Runs in the caller's transaction, which audits the change it is part of.
 */
export async function clearFailures(
  trx: Knex | Knex.Transaction,
  userId: string,
  factors: readonly AuthFactor[] = FACTORS,
): Promise<AuthFactor[]> {
  if (factors.length === 0) return [];
  const res = await trx.raw(
    `with old as (
       select factor, (locked_until is not null and locked_until > now()) as was_locked
       from auth_failure_counters where user_id = ? and factor in (${factors.map(() => '?').join(', ')}) for update
     )
     update auth_failure_counters c set failed_count = 0, first_failed_at = null, locked_until = null
     from old where c.user_id = ? and c.factor = old.factor
     returning c.factor, old.was_locked`,
    [userId, ...factors, userId],
  );
  return (res.rows as { factor: AuthFactor; was_locked: boolean }[])
    .filter((r) => r.was_locked)
    .map((r) => r.factor)
    .sort();
}

export interface UnlockOptions {
  /** Factors to unlock; all by default. */
  factors?: readonly AuthFactor[];
  /** Why (ticket, "identity verified by phone"...); recorded in the audit details. */
  reason?: string;
  tenantId?: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  /** Also forget the account's rate-limiter budgets (recommended). */
  throttle?: AuthThrottle;
}

/**
 * Administrative unlock: clears the user's failure counters and locks, audited as
 * `auth.lockout.cleared` with the acting principal. Throws `not_found` for an unknown user.
 */
export async function unlockAccount(
  db: Knex,
  userId: string,
  actor: AuditEvent['actor'],
  opts: UnlockOptions = {},
): Promise<{ unlocked: AuthFactor[] }> {
  const factors = opts.factors ?? FACTORS;
  const { unlocked, email } = await db.transaction(async (trx) => {
    const user = await trx('users').where({ id: userId }).first('id', 'email');
    if (!user) throw new AppError('not_found', { detail: 'no such user' });
    const unlocked = await clearFailures(trx, userId, factors);
    await recordAudit(trx, {
      action: 'auth.lockout.cleared',
      actor,
      outcome: 'success',
      tenantId: opts.tenantId,
      target: { type: 'user', id: userId },
      ip: validIp(opts.ip),
      userAgent: opts.userAgent,
      requestId: opts.requestId,
      details: { factors: [...factors], locked_factors: unlocked, reason: opts.reason ?? null },
    });
    return { unlocked, email: user.email as string | null };
  });
  if (opts.throttle) {
    await opts.throttle.resetAccount(email ?? `user:${userId}`, factors);
  }
  return { unlocked };
}
