import type { Knex } from 'knex';
import { countRemainingRecoveryCodes, deleteRecoveryCodes, getTotpCredential, removeTotp } from '../mfa/index.ts';
import { countPasskeys, listPasskeys, type PasskeySummary, removePasskey } from '../webauthn/index.ts';
import type { AccountContext } from './context.ts';

/**
 * What the account pages show about second factors, and the removals with their consequence:
 * when the last second factor goes, the recovery codes go too (they are a way around a second
 * factor the account no longer has) and the password minimum returns to 15 for the next change
 * (ADR-0012; an existing shorter password stays valid).
 */
export interface SecondFactorSummary {
  totp: { enrolledAt: Date; lastUsedAt: Date | null } | null;
  passkeys: PasskeySummary[];
  recoveryCodesLeft: number;
}

export async function secondFactorSummary(db: Knex, userId: string): Promise<SecondFactorSummary> {
  const [totp, passkeys, recoveryCodesLeft] = await Promise.all([
    getTotpCredential(db, userId),
    listPasskeys(db, userId),
    countRemainingRecoveryCodes(db, userId),
  ]);
  return { totp: totp ? { enrolledAt: totp.confirmedAt, lastUsedAt: totp.lastUsedAt } : null, passkeys, recoveryCodesLeft };
}

async function dropRecoveryCodesWhenNoFactorLeft(db: Knex, userId: string, ctx: AccountContext): Promise<boolean> {
  if ((await getTotpCredential(db, userId)) || (await countPasskeys(db, userId)) > 0) return false;
  return (await deleteRecoveryCodes(db, userId, ctx)) > 0;
}

/** Removes the user's authenticator app; false when there was none. */
export async function removeAccountTotp(
  db: Knex,
  userId: string,
  ctx: AccountContext = {},
): Promise<{ removed: boolean; recoveryCodesDeleted: boolean }> {
  const removed = (await removeTotp(db, { userId }, ctx)) > 0;
  return { removed, recoveryCodesDeleted: removed && (await dropRecoveryCodesWhenNoFactorLeft(db, userId, ctx)) };
}

/** Removes one of the user's passkeys; false (nothing changed, failure audited) when it is not theirs. */
export async function removeAccountPasskey(
  db: Knex,
  userId: string,
  passkeyId: string,
  ctx: AccountContext = {},
): Promise<{ removed: boolean; recoveryCodesDeleted: boolean }> {
  const removed = await removePasskey(db, { userId, credentialId: passkeyId }, ctx);
  return { removed, recoveryCodesDeleted: removed && (await dropRecoveryCodesWhenNoFactorLeft(db, userId, ctx)) };
}
