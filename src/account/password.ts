import type { Knex } from 'knex';
import { AppError } from '../errors/index.ts';
import { hasSecondFactorEnrolled, type PasswordService, type PolicyMessage } from '../identity/index.ts';
import { invalidateTokens } from '../identity/one-time-tokens.ts';
import type { AccountContext } from './context.ts';

/**
 * The signed-in user changes (or, without one yet, sets) their password. The current password is
 * asked for whenever there is one (ASVS 6.2.3), on top of the recent sign-in the caller enforces;
 * its check is throttled and counted like a sign-in. The new one meets the policy (15 characters,
 * 8 with a second factor). Outstanding reset and sign-in links die with the old password. Ending
 * the other sessions is the caller's next step (ADR-0018).
 */
export type PasswordChangeResult =
  | { ok: true }
  | { ok: false; reason: 'current_required' | 'wrong_password' | 'new_required' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number }
  | { ok: false; reason: 'policy'; messages: PolicyMessage[] };

export interface PasswordChangeInput {
  userId: string;
  currentPassword?: string;
  newPassword: string;
}

function policyRefusal(err: unknown): PolicyMessage[] | undefined {
  if (!(err instanceof AppError) || err.code !== 'validation_failed') return undefined;
  return (err.extensions?.messages ?? []) as PolicyMessage[];
}

export async function changeAccountPassword(
  db: Knex,
  passwords: PasswordService,
  input: PasswordChangeInput,
  ctx: AccountContext = {},
): Promise<PasswordChangeResult> {
  const newPassword = typeof input.newPassword === 'string' ? input.newPassword : '';
  if (newPassword.length === 0) return { ok: false, reason: 'new_required' };
  const hasPassword = Boolean(await db('password_credentials').where({ user_id: input.userId }).first('user_id'));
  try {
    if (hasPassword) {
      if (!input.currentPassword) return { ok: false, reason: 'current_required' };
      const changed = await passwords.changePassword(db, {
        userId: input.userId,
        currentPassword: input.currentPassword,
        newPassword,
        ...ctx,
      });
      if (!changed.ok) {
        return changed.retryAfterSeconds
          ? { ok: false, reason: 'throttled', retryAfterSeconds: changed.retryAfterSeconds }
          : { ok: false, reason: 'wrong_password' };
      }
    } else {
      const hasSecondFactor = await hasSecondFactorEnrolled(db, input.userId);
      await db.transaction((trx) =>
        passwords.setPassword(trx, input.userId, newPassword, {
          actor: { type: 'user', id: input.userId },
          via: 'set',
          hasSecondFactor,
          ...ctx,
        }),
      );
    }
  } catch (err) {
    const messages = policyRefusal(err);
    if (messages) return { ok: false, reason: 'policy', messages };
    throw err;
  }
  await invalidateTokens(
    db,
    { userId: input.userId, purposes: ['password_reset', 'magic_link'] },
    { ...ctx, actor: { type: 'user', id: input.userId } },
  );
  return { ok: true };
}
