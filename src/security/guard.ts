import type { Knex } from 'knex';
import { recordAudit } from '../audit/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuthFactor } from './factors.ts';
import { assertThreshold, chargeAttempt, settleAttempt } from './lockout.ts';
import { type AuthThrottle, identifierHash, validIp } from './throttle.ts';

/**
 * Both brute-force layers around one verification of a known user's factor (TOTP, recovery code,
 * email OTP, passkey assertion): the throttle (per account and source, fails closed), then the
 * durable counter (charged before the verification, settled after), then the verifier itself,
 * which audits its own outcome. Refusals — throttled, store unavailable, locked — never reach
 * the verifier and are audited here as `auth.attempt.refused`.
 *
 * Passwords run the same layers inside `verifyUserPassword` (which must also cover unknown
 * accounts); magic-link *requests* need only `throttle.check({ factor: 'magic_link', … })`.
 */
export interface GuardedAttempt {
  factor: AuthFactor;
  userId: string;
  /** The login identifier (email) of the sign-in; defaults to a per-user key. */
  account?: string | null;
  ip?: string | null;
  userAgent?: string;
  requestId?: string;
  tenantId?: string;
}

export type GuardRefusal = {
  ok: false;
  refused: 'rate_limited' | 'limiter_unavailable' | 'locked';
  /** Set for throttling refusals; a lock has no retry time (it waits for a reset or an administrator). */
  retryAfterSeconds?: number;
};

export interface FactorGuard {
  run<R extends { ok: boolean }>(db: Knex, attempt: GuardedAttempt, verify: () => Promise<R>): Promise<R | GuardRefusal>;
}

export function createFactorGuard(opts: { throttle: AuthThrottle; lockoutThreshold: number; logger?: Logger }): FactorGuard {
  const { throttle, lockoutThreshold: threshold, logger } = opts;
  assertThreshold(threshold);
  return {
    async run(db, a, verify) {
      const account = a.account || `user:${a.userId}`;
      const subject = { factor: a.factor, account, ip: a.ip };
      const target = { type: 'user', id: a.userId };
      const auditBase = { ip: validIp(a.ip), userAgent: a.userAgent, requestId: a.requestId, tenantId: a.tenantId, target };
      const refuse = async (refused: GuardRefusal['refused'], retryAfterSeconds?: number): Promise<GuardRefusal> => {
        await db.transaction((trx) =>
          recordAudit(trx, {
            action: 'auth.attempt.refused',
            actor: { type: 'anonymous' },
            outcome: 'failure',
            ...auditBase,
            details: {
              factor: a.factor,
              reason: refused,
              account_hash: identifierHash(account),
              ...(retryAfterSeconds !== undefined ? { retry_after_s: retryAfterSeconds } : {}),
            },
          }),
        );
        return retryAfterSeconds !== undefined ? { ok: false, refused, retryAfterSeconds } : { ok: false, refused };
      };

      const decision = await throttle.check(subject);
      if (!decision.allowed) {
        return refuse(decision.reason === 'unavailable' ? 'limiter_unavailable' : 'rate_limited', decision.retryAfterSeconds);
      }
      const charge = await chargeAttempt(db, a.userId, a.factor, threshold);
      if (!charge.allowed) return refuse('locked');

      const result = await verify();
      const { lockedNow } = await settleAttempt(db, a.userId, a.factor, { success: result.ok, threshold });
      if (lockedNow) {
        await db.transaction((trx) =>
          recordAudit(trx, {
            action: 'auth.lockout.locked',
            actor: { type: 'system', id: 'lockout' },
            outcome: 'success',
            ...auditBase,
            details: { factor: a.factor, failed_count: charge.failedCount, threshold },
          }),
        );
        logger?.warn(
          { user_id: a.userId, factor: a.factor, failed_count: charge.failedCount },
          'account factor locked after consecutive failures',
        );
      }
      if (result.ok) await throttle.recordSuccess(subject);
      else await throttle.recordFailure(subject);
      return result;
    },
  };
}
