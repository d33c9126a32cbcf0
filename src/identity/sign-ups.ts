import type { Knex } from 'knex';
import { recordAudit } from '../audit/index.ts';
import { lockId } from '../db/locks.ts';

/** How long a self sign-up's verification link works (ADR-0013 default: 24 h); the pending account is kept as long. */
export const SIGN_UP_VERIFICATION_TTL_S = 86_400;

const PURGE_LOCK = lockId('iam:purge-pending-sign-ups');

/**
 * Deletes self sign-ups nobody verified: accounts still pending (`status = 'disabled'`,
 * `profile.signup = 'pending'`) created more than `olderThanSeconds` ago (the verification window)
 * and without any live emailed link (a verification or reset link still in its window keeps the
 * account: its owner may be about to use it). Everything of the account goes with it (cascade),
 * each deletion audited as `user.signup_expired` in the same transaction. One instance at a time
 * (transaction advisory lock; the others skip), at most `batch` accounts per call. Returns how many
 * were deleted.
 */
export async function purgePendingSignUps(
  db: Knex,
  opts: { olderThanSeconds?: number; batch?: number } = {},
): Promise<{ ran: boolean; purged: number }> {
  const olderThan = opts.olderThanSeconds ?? SIGN_UP_VERIFICATION_TTL_S;
  const batch = opts.batch ?? 500;
  return db.transaction(async (trx) => {
    const { rows: lock } = await trx.raw<{ rows: { locked: boolean }[] }>('select pg_try_advisory_xact_lock(?::bigint) as locked', [
      PURGE_LOCK,
    ]);
    if (!lock[0]?.locked) return { ran: false, purged: 0 };
    const { rows } = (await trx.raw(
      `with doomed as (
         select u.id from users u
          where u.status = 'disabled' and u.profile->>'signup' = 'pending' and u.deleted_at is null
            and u.created_at < now() - make_interval(secs => ?)
            and not exists (select 1 from one_time_tokens t
                             where t.user_id = u.id and t.consumed_at is null and t.expires_at > now())
          order by u.created_at
          limit ?
          for update skip locked
       )
       delete from users u using doomed where u.id = doomed.id
       returning u.id, u.created_at`,
      [olderThan, batch],
    )) as { rows: { id: string; created_at: Date }[] };
    for (const row of rows) {
      await recordAudit(trx, {
        action: 'user.signup_expired',
        actor: { type: 'system', id: 'sign-up-purge' },
        target: { type: 'user', id: row.id },
        details: { created_at: new Date(row.created_at).toISOString(), window_s: olderThan },
      });
    }
    return { ran: true, purged: rows.length };
  });
}
