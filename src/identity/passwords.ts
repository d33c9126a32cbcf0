import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import type { Config } from '../config/schema.ts';
import { AppError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import {
  assertThreshold,
  CHARGE_ON_CONFLICT,
  chargeOutcome,
  clearFailures,
  recordUnchargedFailure,
  settleAttempt,
  UNCHARGED_WITHIN,
} from '../security/lockout.ts';
import { type AuthThrottle, createAuthThrottle, identifierHash, normalizeIdentifier, validIp } from '../security/throttle.ts';
import type { KeyValueStore } from '../store/types.ts';
import { argon2ParamsFromConfig, createPasswordHasher, type PasswordHasher, type VerifyResult } from './password-hash.ts';
import {
  checkPassword,
  DEFAULT_PASSWORD_POLICY,
  type PasswordContext,
  type PasswordPolicyOptions,
  type PasswordPolicyResult,
  passwordPolicyFromConfig,
} from './password-policy.ts';

/**
 * Password verification, setting and changing (ADR-0012). Every failure looks the same to the
 * caller — unknown account, wrong password, disabled user, locked account — and costs the same
 * time (a dummy argon2 verification stands in for the missing hash). Every attempt is audited
 * (`auth.password.verified` / `auth.password.failed`, the reason in the details, never the
 * password), throttled per account and source address, and counted durably per account.
 */

/** Internal reason of a failed attempt: audited, never shown. */
export type PasswordFailureReason =
  | 'unknown_account'
  | 'wrong_password'
  | 'disabled'
  | 'no_password'
  | 'locked'
  | 'rate_limited'
  | 'limiter_unavailable';

export interface PasswordAttempt {
  /** Login identifier as typed. */
  email: string;
  password: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  /** Tenant context of the sign-in, when there is one (selects its audit chain). */
  tenantId?: string;
}

/**
 * `ok: false` is deliberately uninformative. `retryAfterSeconds` is set only when the attempt was
 * not evaluated because of throttling, which is keyed by the identifier typed and the source
 * address, never by whether the account exists.
 */
export type PasswordVerification = { ok: true; userId: string; needsRehash: boolean } | { ok: false; retryAfterSeconds?: number };

/**
 * The writes of a verified password, as data, so that they can wait for the end of the sign-in —
 * even be applied by another instance, in the resume request's transaction (DESIGN §7: one
 * PostgreSQL write per completed login, ADR-0015). Apply with `applyPasswordVerified`.
 */
export interface PasswordVerifiedWrites {
  userId: string;
  /**
   * The consecutive failures on record as the attempt saw them (its own charge included). They are
   * cleared only while the count is still exactly that and the factor is not locked: failures
   * recorded after the verification — before a deferred write ran — are never wiped out.
   * Absent: nothing to clear.
   */
  resetFrom?: number;
  /** The new hash when the stored one is due for the configured parameters (never kept in a shared store). */
  rehash?: { from: string; hash: string; params: unknown };
  /** `auth.password.verified`. */
  audit: AuditEvent;
}

/** A write of a successful step that can wait for the end of the sign-in. */
export type DeferredWrite = PasswordVerifiedWrites;

/** Writes a verified password's rows inside the caller's transaction. */
export async function applyPasswordVerified(trx: Knex.Transaction, w: PasswordVerifiedWrites): Promise<void> {
  if (w.resetFrom !== undefined) {
    await trx('auth_failure_counters')
      .where({ user_id: w.userId, factor: 'password', failed_count: w.resetFrom })
      .andWhere((q) => q.whereNull('locked_until').orWhere('locked_until', '<=', trx.fn.now()))
      .update({ failed_count: 0, first_failed_at: null, locked_until: null });
  }
  if (w.rehash) {
    // Only if nobody changed the password meanwhile.
    await trx('password_credentials')
      .where({ user_id: w.userId, password_hash: w.rehash.from })
      .update({ password_hash: w.rehash.hash, algorithm: 'argon2id', params: JSON.stringify(w.rehash.params) });
  }
  await recordAudit(trx, w.audit);
}

export interface VerifyOptions {
  /**
   * Collects the success's writes (counter reset, rehash, `auth.password.verified`) instead of
   * running them: the caller must apply them (`applyPasswordVerified`) in one transaction when it
   * signs the user in. Failures are always written at once.
   */
  deferSuccessWrites?: DeferredWrite[];
}

export interface SetPasswordContext {
  /** Who sets it: the user (change, reset link), an administrator, the system. */
  actor: AuditEvent['actor'];
  /** How: recorded in the audit details. */
  via?: 'set' | 'change' | 'reset' | 'admin';
  /** Whether the account has a second factor (lowers the minimum to 8); looked up when omitted. */
  hasSecondFactor?: boolean;
  /** Force a change at next sign-in (an administrator-set password). */
  mustChange?: boolean;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  tenantId?: string;
}

export interface ChangePasswordInput {
  userId: string;
  currentPassword: string;
  newPassword: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  tenantId?: string;
}

export interface PasswordService {
  readonly policy: Readonly<PasswordPolicyOptions>;
  readonly hasher: PasswordHasher;
  readonly throttle: AuthThrottle;
  /** The policy verdict for a prospective password (registration forms, live feedback). */
  checkPolicy(password: string, input?: { hasSecondFactor?: boolean; context?: PasswordContext }): PasswordPolicyResult;
  /** Sign-in by email and password. */
  verifyUserPassword(db: Knex, attempt: PasswordAttempt, opts?: VerifyOptions): Promise<PasswordVerification>;
  /**
   * Sets (or replaces) a user's password inside the caller's transaction: policy check (throws
   * `validation_failed` with the reasons), argon2id hash, the `password` lockout cleared (a reset
   * unlocks), audited as `auth.password.changed`.
   */
  setPassword(trx: Knex.Transaction, userId: string, password: string, ctx: SetPasswordContext): Promise<void>;
  /** Change by the signed-in user: re-authenticates with the current password first (ASVS 6.2.3). */
  changePassword(db: Knex, input: ChangePasswordInput): Promise<{ ok: true } | { ok: false; retryAfterSeconds?: number }>;
}

export interface PasswordServiceOptions {
  hasher: PasswordHasher;
  throttle: AuthThrottle;
  policy?: PasswordPolicyOptions;
  /** Consecutive failures before the password factor locks (1..100). */
  lockoutThreshold?: number;
  /**
   * The most attempts on one account the throttle lets run at once (its free failures + 1, the
   * rest one at a time). Known, it lets an account far enough below the threshold be verified
   * without charging the durable counter first (`unchargedWithin`); unknown, every attempt is
   * charged first.
   */
  maxConcurrentAttempts?: number;
  logger?: Logger;
}

const ANONYMOUS: AuditEvent['actor'] = { type: 'anonymous' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface LookupRow {
  id: string;
  status: string;
  password_hash: string | null;
  /** Consecutive failures on record before this attempt. */
  prior: number;
  /** Evaluated without a charge (`unchargedWithin`). */
  uncharged: boolean;
  failed_count: number | null;
  locked: boolean | null;
}

/** True when the user has a confirmed TOTP or a passkey/security key. */
export async function hasSecondFactorEnrolled(db: Knex | Knex.Transaction, userId: string): Promise<boolean> {
  const res = await db.raw(
    `select exists (select 1 from totp_credentials where user_id = ? and confirmed_at is not null)
         or exists (select 1 from webauthn_credentials where user_id = ?) as mfa`,
    [userId, userId],
  );
  return Boolean(res.rows[0]?.mfa);
}

export function createPasswordService(opts: PasswordServiceOptions): PasswordService {
  const { hasher, throttle, logger } = opts;
  const policy = Object.freeze({ ...(opts.policy ?? DEFAULT_PASSWORD_POLICY) });
  const threshold = opts.lockoutThreshold ?? 100;
  assertThreshold(threshold);
  // No bound known: no attempt may go uncharged (prior + margin never fits under the threshold).
  const margin = opts.maxConcurrentAttempts ?? threshold + 1;

  function assertAcceptable(password: string, hasSecondFactor: boolean, user: UserContextRow): void {
    const verdict = checkPassword(password, policy, { hasSecondFactor, context: userContext(user) });
    if (verdict.ok) return;
    throw new AppError('validation_failed', {
      detail: 'The password does not meet the password policy',
      invalidParams: verdict.reasons.map((reason) => ({ name: 'password', reason })),
      extensions: { reasons: verdict.reasons, messages: verdict.messages },
    });
  }

  async function attempt(
    db: Knex,
    by: { email: string } | { userId: string },
    password: string,
    meta: { account: string; ip?: string; userAgent?: string; requestId?: string; tenantId?: string },
    deferred?: DeferredWrite[],
  ): Promise<PasswordVerification> {
    const subject = { factor: 'password', account: meta.account, ip: meta.ip } as const;
    const accountHash = identifierHash(meta.account);
    const auditBase = { ip: validIp(meta.ip), userAgent: meta.userAgent, requestId: meta.requestId, tenantId: meta.tenantId };

    const decision = await throttle.check(subject);
    if (!decision.allowed) {
      const reason: PasswordFailureReason = decision.reason === 'unavailable' ? 'limiter_unavailable' : 'rate_limited';
      await db.transaction((trx) =>
        recordAudit(trx, {
          action: 'auth.password.failed',
          actor: ANONYMOUS,
          outcome: 'failure',
          ...auditBase,
          details: { factor: 'password', reason, account_hash: accountHash, retry_after_s: decision.retryAfterSeconds },
        }),
      );
      return { ok: false, retryAfterSeconds: decision.retryAfterSeconds };
    }

    // One statement for every case — look the account up and, when it can sign in, charge the
    // attempt to its durable counter unless it is far enough below the threshold to go uncharged
    // (`unchargedWithin`) — so an unknown account costs what a known one does.
    const [where, value] =
      'email' in by
        ? ['lower(u.email) = lower(?)', by.email.trim()]
        : UUID.test(by.userId)
          ? ['u.id = ?', by.userId]
          : ['false and u.id::text = ?', by.userId];
    const res = await db.raw(
      `with u as (
         select u.id, u.status, pc.password_hash, coalesce(f.failed_count, 0) as prior,
                coalesce(f.locked_until > now(), false) as prior_locked
         from users u
         left join password_credentials pc on pc.user_id = u.id
         left join auth_failure_counters f on f.user_id = u.id and f.factor = 'password'
         where ${where} and u.deleted_at is null
         limit 1
       ), d as (
         select u.*, ${UNCHARGED_WITHIN} as uncharged from u
       ), charged as (
         insert into auth_failure_counters as c (user_id, factor, failed_count, first_failed_at, last_failed_at)
         select id, 'password', 1, now(), now() from d where status = 'active' and password_hash is not null and not uncharged
         ${CHARGE_ON_CONFLICT}
       )
       select d.id, d.status, d.password_hash, d.prior, d.uncharged, charged.failed_count, charged.locked
       from d left join charged on true`,
      [value, margin, threshold, threshold],
    );
    const row = res.rows[0] as LookupRow | undefined;

    let reason: PasswordFailureReason | undefined;
    let chargedUser: string | null = null;
    let failedCount = 0;
    if (!row) reason = 'unknown_account';
    else if (row.status !== 'active') reason = 'disabled';
    else if (!row.password_hash) reason = 'no_password';
    else if (row.uncharged) {
      failedCount = Number(row.prior) + 1;
    } else {
      const charge = chargeOutcome(
        row.failed_count === null ? undefined : { failed_count: row.failed_count, locked: Boolean(row.locked) },
        threshold,
      );
      failedCount = charge.failedCount;
      if (charge.allowed) chargedUser = row.id;
      else reason = 'locked';
    }

    let verification: VerifyResult = { ok: false, needsRehash: false };
    if (reason === undefined && row?.password_hash) {
      verification = await hasher.verify(row.password_hash, password);
      if (!verification.ok) reason = 'wrong_password';
    } else {
      await hasher.verifyDummy(password);
    }
    const target = row ? { type: 'user', id: row.id } : undefined;

    if (reason === undefined && row?.password_hash) {
      const rehash = verification.needsRehash ? await hasher.hash(password) : undefined;
      // A clean account verified uncharged has no count to reset: a clean sign-in writes only its audit row.
      const resetFrom = row.uncharged ? Number(row.prior) || undefined : failedCount;
      const writes: PasswordVerifiedWrites = {
        userId: row.id,
        ...(resetFrom !== undefined ? { resetFrom } : {}),
        ...(rehash ? { rehash: { from: row.password_hash, hash: rehash.hash, params: rehash.params } } : {}),
        audit: {
          action: 'auth.password.verified',
          actor: { type: 'user', id: row.id },
          outcome: 'success',
          target,
          ...auditBase,
          details: { factor: 'password', account_hash: accountHash, rehashed: Boolean(rehash) },
        },
      };
      if (deferred) deferred.push(writes);
      else await db.transaction((trx) => applyPasswordVerified(trx, writes));
      await throttle.recordSuccess(subject);
      return { ok: true, userId: row.id, needsRehash: verification.needsRehash };
    }

    const countNow = reason === 'wrong_password' && row?.uncharged === true;
    const { lockedNow } = await db.transaction(async (trx) => {
      // An uncharged attempt is counted now; a charged one (or none: no account) is settled.
      let settled: { lockedNow: boolean };
      if (countNow && row) {
        const counted = await recordUnchargedFailure(trx, row.id, 'password', threshold);
        failedCount = counted.failedCount;
        settled = counted;
      } else {
        settled = await settleAttempt(trx, chargedUser, 'password', { success: false, threshold });
      }
      await recordAudit(trx, {
        action: 'auth.password.failed',
        actor: ANONYMOUS,
        outcome: 'failure',
        target,
        ...auditBase,
        details: {
          factor: 'password',
          reason,
          account_hash: accountHash,
          ...(chargedUser || countNow ? { failed_count: failedCount } : {}),
        },
      });
      if (settled.lockedNow && target) {
        await recordAudit(trx, {
          action: 'auth.lockout.locked',
          actor: { type: 'system', id: 'lockout' },
          outcome: 'success',
          target,
          ...auditBase,
          details: { factor: 'password', failed_count: failedCount, threshold },
        });
      }
      return settled;
    });
    await throttle.recordFailure(subject);
    if (lockedNow)
      logger?.warn({ user_id: row?.id, factor: 'password', failed_count: failedCount }, 'account factor locked after consecutive failures');
    return { ok: false };
  }

  const service: PasswordService = {
    policy,
    hasher,
    throttle,

    checkPolicy: (password, input = {}) => checkPassword(password, policy, input),

    verifyUserPassword(db, a, verifyOpts = {}) {
      const email = typeof a.email === 'string' ? a.email : '';
      const password = typeof a.password === 'string' ? a.password : '';
      return attempt(
        db,
        { email },
        password,
        {
          account: normalizeIdentifier(email) || '(empty)',
          ip: a.ip,
          userAgent: a.userAgent,
          requestId: a.requestId,
          tenantId: a.tenantId,
        },
        verifyOpts.deferSuccessWrites,
      );
    },

    async setPassword(trx, userId, password, ctx) {
      const user = await loadUser(trx, userId);
      const hasSecondFactor = ctx.hasSecondFactor ?? (await hasSecondFactorEnrolled(trx, userId));
      assertAcceptable(password, hasSecondFactor, user);
      const { hash, params } = await hasher.hash(password);
      const mustChange = ctx.mustChange ?? false;
      await trx('password_credentials')
        .insert({
          user_id: userId,
          password_hash: hash,
          algorithm: 'argon2id',
          params: JSON.stringify(params),
          must_change: mustChange,
          changed_at: trx.fn.now(),
        })
        .onConflict('user_id')
        .merge(['password_hash', 'algorithm', 'params', 'must_change', 'changed_at']);
      const unlocked = await clearFailures(trx, userId, ['password']);
      await recordAudit(trx, {
        action: 'auth.password.changed',
        actor: ctx.actor,
        outcome: 'success',
        tenantId: ctx.tenantId,
        target: { type: 'user', id: userId },
        ip: validIp(ctx.ip),
        userAgent: ctx.userAgent,
        requestId: ctx.requestId,
        details: { via: ctx.via ?? 'set', must_change: mustChange, cleared_lockout: unlocked.length > 0 },
      });
      // The new password starts with a fresh budget (best effort; the durable lock is cleared above).
      await throttle.resetAccount(user.email ?? `user:${userId}`, ['password']);
    },

    async changePassword(db, input) {
      const user = await loadUser(db, input.userId);
      const hasSecondFactor = await hasSecondFactorEnrolled(db, input.userId);
      // A new password the policy refuses costs no attempt.
      assertAcceptable(typeof input.newPassword === 'string' ? input.newPassword : '', hasSecondFactor, user);
      const verified = await attempt(db, { userId: input.userId }, typeof input.currentPassword === 'string' ? input.currentPassword : '', {
        account: normalizeIdentifier(user.email ?? '') || `user:${input.userId}`,
        ip: input.ip,
        userAgent: input.userAgent,
        requestId: input.requestId,
        tenantId: input.tenantId,
      });
      if (!verified.ok) return verified;
      await db.transaction((trx) =>
        service.setPassword(trx, input.userId, input.newPassword, {
          actor: { type: 'user', id: input.userId },
          via: 'change',
          hasSecondFactor,
          ip: input.ip,
          userAgent: input.userAgent,
          requestId: input.requestId,
          tenantId: input.tenantId,
        }),
      );
      return { ok: true };
    },
  };
  return service;
}

interface UserContextRow {
  id: string;
  email: string | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
}

async function loadUser(db: Knex | Knex.Transaction, userId: string): Promise<UserContextRow> {
  const user = UUID.test(userId)
    ? ((await db('users')
        .where({ id: userId })
        .whereNull('deleted_at')
        .first('id', 'email', 'display_name', 'given_name', 'family_name')) as UserContextRow | undefined)
    : undefined;
  if (!user) throw new AppError('not_found', { detail: 'no such user' });
  return user;
}

function userContext(user: UserContextRow): PasswordContext {
  return { email: user.email, displayName: user.display_name, givenName: user.given_name, familyName: user.family_name };
}

/**
 * The service as configured (`auth.*`): hasher with its start-up dummy hash, throttle over the
 * store (Redis, or the in-process store of the embedded default).
 */
export async function createPasswordServiceFromConfig(
  config: Pick<Config, 'auth'>,
  deps: { store: KeyValueStore; logger?: Logger },
): Promise<PasswordService> {
  const hasher = await createPasswordHasher(argon2ParamsFromConfig(config.auth));
  return createPasswordService({
    hasher,
    throttle: createAuthThrottle({ store: deps.store, config: config.auth, logger: deps.logger }),
    policy: passwordPolicyFromConfig(config.auth),
    lockoutThreshold: config.auth.lockout_threshold,
    maxConcurrentAttempts: config.auth.account_free_failures + 1,
    logger: deps.logger,
  });
}
