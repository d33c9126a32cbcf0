import type { Knex } from 'knex';
import { AppError } from '../errors/index.ts';
import { audit, lockActiveUser, UUID, type WebAuthnContext } from './context.ts';

/**
 * Stored passkeys (`webauthn_credentials`) and their self-service management: list, rename,
 * remove. Every query names the user, so one user can never see, rename or remove another's
 * credential; a miss is indistinguishable from a credential that does not exist.
 */
export const CREDENTIAL_NAME_MAX = 64;
/** Registrations beyond this many passkeys per user are refused (bounds excludeCredentials and the list). */
export const MAX_CREDENTIALS_PER_USER = 25;
/** Transport hints the browser may report (WebAuthn AuthenticatorTransport); anything else is dropped. */
export const KNOWN_TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;

export type CredentialDeviceType = 'singleDevice' | 'multiDevice';

export interface CredentialRow {
  id: string;
  user_id: string;
  credential_id: Buffer;
  public_key: Buffer;
  counter: string | number;
  transports: string[];
  aaguid: string | null;
  name: string | null;
  device_type: CredentialDeviceType | null;
  backup_eligible: boolean;
  backed_up: boolean;
  created_at: Date;
  last_used_at: Date | null;
}

/** What the account pages show; never the public key or the raw credential id. */
export interface PasskeySummary {
  /** The row id (uuid): what rename and remove take. */
  id: string;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** Backup eligible: a synced (multi-device) passkey; false for a device-bound key. */
  backupEligible: boolean;
  backedUp: boolean;
  deviceType: CredentialDeviceType | null;
  transports: string[];
  /** Authenticator model (AAGUID) when the authenticator disclosed one. */
  aaguid: string | null;
}

export const toSummary = (r: CredentialRow): PasskeySummary => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  backupEligible: r.backup_eligible,
  backedUp: r.backed_up,
  deviceType: r.device_type,
  transports: r.transports,
  aaguid: r.aaguid,
});

/**
 * One printable line: NFC; whitespace runs (tabs, line breaks too) become one space; control,
 * format (zero-width, bidi override), surrogate, private-use and separator characters go; at most
 * `max` code points. Empty when nothing is left.
 */
export function printableLine(value: string, max: number): string {
  const cleaned = value
    .slice(0, 4 * max + 64)
    .normalize('NFC')
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/gu, '')
    .replace(/ {2,}/g, ' ')
    .trim();
  return Array.from(cleaned).slice(0, max).join('').trim();
}

/** A user-chosen passkey label made safe to store and show (see `printableLine`); null when nothing is left. */
export function sanitizeCredentialName(name: unknown): string | null {
  if (typeof name !== 'string') return null;
  return printableLine(name, CREDENTIAL_NAME_MAX) || null;
}

export function sanitizeTransports(transports: unknown): string[] {
  if (!Array.isArray(transports)) return [];
  const known = new Set<string>(KNOWN_TRANSPORTS);
  return [...new Set(transports.filter((t): t is string => typeof t === 'string' && known.has(t)))].sort();
}

const SUMMARY_COLUMNS = [
  'id',
  'name',
  'created_at',
  'last_used_at',
  'backup_eligible',
  'backed_up',
  'device_type',
  'transports',
  'aaguid',
] as const;

/** The user's passkeys, oldest first. */
export async function listPasskeys(db: Knex, userId: string): Promise<PasskeySummary[]> {
  if (!UUID.test(userId)) return [];
  const rows: CredentialRow[] = await db('webauthn_credentials')
    .where({ user_id: userId })
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .select(...SUMMARY_COLUMNS);
  return rows.map(toSummary);
}

/** How many passkeys the user has (whether the sign-in pages offer a passkey). */
export async function countPasskeys(db: Knex, userId: string): Promise<number> {
  if (!UUID.test(userId)) return 0;
  const row = await db('webauthn_credentials').where({ user_id: userId }).count<{ n: string }[]>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/**
 * Renames one of the user's passkeys. False when the user has no such passkey (including one
 * that belongs to someone else). Throws `validation_failed` when nothing printable is left of the
 * name.
 */
export async function renamePasskey(
  db: Knex,
  input: { userId: string; credentialId: string; name: string },
  ctx: WebAuthnContext = {},
): Promise<boolean> {
  const name = sanitizeCredentialName(input.name);
  if (name === null) {
    throw new AppError('validation_failed', { invalidParams: [{ name: 'name', reason: 'must contain printable characters' }] });
  }
  if (!UUID.test(input.userId)) return false;
  return db.transaction(async (trx) => {
    const known = UUID.test(input.credentialId);
    const updated = known
      ? await trx('webauthn_credentials').where({ id: input.credentialId, user_id: input.userId }).update({ name }).returning('id')
      : [];
    const ok = updated.length === 1;
    await audit(trx, ctx, {
      action: 'mfa.webauthn.renamed',
      outcome: ok ? 'success' : 'failure',
      userId: input.userId,
      details: ok
        ? { credential_id: input.credentialId }
        : { reason: 'not_found', ...(known ? { credential_id: input.credentialId } : {}) },
    });
    return ok;
  });
}

/**
 * Removes one of the user's passkeys. False (and a failure audit) when the user has no such
 * passkey — in particular another user's. The caller must have re-authenticated the user (ASVS
 * 7.5.1) and should offer to end other sessions (ASVS 7.4.3).
 */
export async function removePasskey(
  db: Knex,
  input: { userId: string; credentialId: string },
  ctx: WebAuthnContext = {},
): Promise<boolean> {
  if (!UUID.test(input.userId)) return false;
  return db.transaction(async (trx) => {
    const known = UUID.test(input.credentialId);
    // The user-row lock serialises factor changes of the user (the same lock as registration).
    if (known) await lockActiveUser(trx, input.userId);
    const removed: { id: string }[] = known
      ? await trx('webauthn_credentials').where({ id: input.credentialId, user_id: input.userId }).delete().returning('id')
      : [];
    const ok = removed.length === 1;
    await audit(trx, ctx, {
      action: 'mfa.webauthn.removed',
      outcome: ok ? 'success' : 'failure',
      userId: input.userId,
      details: ok
        ? { credential_ids: [input.credentialId] }
        : { reason: 'not_found', ...(known ? { credential_id: input.credentialId } : {}) },
    });
    return ok;
  });
}

/** Removes every passkey of a user (an administrator's reset); returns how many. */
export async function removeAllPasskeys(db: Knex, userId: string, ctx: WebAuthnContext = {}): Promise<number> {
  if (!UUID.test(userId)) return 0;
  return db.transaction(async (trx) => {
    const removed: { id: string }[] = await trx('webauthn_credentials').where({ user_id: userId }).delete().returning('id');
    if (removed.length > 0) {
      await audit(trx, ctx, {
        action: 'mfa.webauthn.removed',
        outcome: 'success',
        userId,
        details: { credential_ids: removed.map((r) => r.id) },
      });
    }
    return removed.length;
  });
}
