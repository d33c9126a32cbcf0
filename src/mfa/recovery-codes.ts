import { createHmac, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { deriveKekSecret, envelopeKekId } from '../crypto/envelope.ts';
import { AppError } from '../errors/index.ts';
import { audit, lockActiveUser, type MfaContext, UUID } from './context.ts';

/**
 * MFA recovery codes (lookup secrets, ADR-0013): ten single-use codes of 10 Crockford base32
 * characters (50 bits each) shown once as `xxxx-xxxx-xx`. Stored as HMAC-SHA256 under a pepper
 * derived from the KEK, bound to the user id: a database dump alone does not allow an offline
 * search (the pepper never touches the database), and the deterministic hash lets consumption be
 * one conditional UPDATE on (user, hash) — the row count decides, so parallel reuse of one code
 * yields exactly one success.
 */
export const RECOVERY_CODE_COUNT = 10;
export const RECOVERY_CODE_LENGTH = 10;

/** Crockford base32 (no i, l, o, u): unambiguous to read aloud and to type. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const PEPPER_LABEL = 'iam/recovery-codes/v1';

export interface GeneratedRecoveryCodes {
  batchId: string;
  /** Formatted `xxxx-xxxx-xx`; shown once, never retrievable again. */
  codes: string[];
}

export type ConsumeRecoveryCodeResult = { ok: true; remaining: number } | { ok: false; reason: 'invalid' };

function formatCode(raw: string): string {
  return `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`;
}

function randomCode(): string {
  let out = '';
  for (let i = 0; i < RECOVERY_CODE_LENGTH; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/**
 * The canonical form of what a user typed: case, spaces and dashes ignored, and the Crockford
 * look-alikes o→0, i/l→1 mapped. Null when it cannot be a recovery code.
 */
export function normalizeRecoveryCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > 64) return null;
  const c = input
    .toLowerCase()
    .replace(/[\s-]+/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  if (c.length !== RECOVERY_CODE_LENGTH) return null;
  for (const ch of c) if (!ALPHABET.includes(ch)) return null;
  return c;
}

/**
 * The stored form: `h1$<kek id>$<base64url HMAC-SHA256(pepper, user id || code)>`. The KEK id says
 * which KEK's pepper produced it (codes hashed under another KEK can no longer be matched).
 */
export function hashRecoveryCode(kek: Buffer, userId: string, normalizedCode: string): string {
  const pepper = deriveKekSecret(kek, PEPPER_LABEL);
  try {
    const mac = createHmac('sha256', pepper)
      .update(`recovery-code\0${userId.toLowerCase()}\0${normalizedCode}`, 'utf8')
      .digest('base64url');
    return `h1$${envelopeKekId(kek)}$${mac}`;
  } finally {
    pepper.fill(0);
  }
}

/**
 * Creates a new batch of ten codes and removes every earlier code of the user in the same
 * transaction (regeneration invalidates the old batch atomically; concurrent regenerations are
 * serialised on the user row, so exactly one batch survives). The caller must have re-authenticated
 * the user (ASVS 7.5.1).
 */
export async function generateRecoveryCodes(db: Knex, kek: Buffer, userId: string, ctx: MfaContext = {}): Promise<GeneratedRecoveryCodes> {
  const raw = new Set<string>();
  while (raw.size < RECOVERY_CODE_COUNT) raw.add(randomCode());
  const codes = [...raw];
  return db.transaction(async (trx) => {
    if (!(await lockActiveUser(trx, userId))) throw new AppError('not_found', { detail: 'user not found' });
    const replaced = await trx('recovery_codes').where({ user_id: userId }).delete();
    const { rows } = await trx.raw<{ rows: { id: string }[] }>('select uuidv7()::text as id');
    const batchId = rows[0]?.id as string;
    await trx('recovery_codes').insert(
      codes.map((c) => ({ user_id: userId, batch_id: batchId, code_hash: hashRecoveryCode(kek, userId, c) })),
    );
    await audit(trx, userId, ctx, 'mfa.recovery_codes.generated', 'success', { batch_id: batchId, count: codes.length, replaced });
    return { batchId, codes: codes.map(formatCode) };
  });
}

/**
 * Uses one recovery code. Every attempt is audited; a wrong, malformed, reused or replaced code
 * is `invalid` alike. Rate limiting and lockout are the caller's (factor `recovery_code`).
 */
export async function consumeRecoveryCode(
  db: Knex,
  kek: Buffer,
  userId: string,
  code: string,
  ctx: MfaContext = {},
): Promise<ConsumeRecoveryCodeResult> {
  if (!UUID.test(userId)) return { ok: false, reason: 'invalid' };
  const normalized = normalizeRecoveryCode(code);
  // Hash even malformed input so both paths cost the same.
  const hash = hashRecoveryCode(kek, userId, normalized ?? 'malformed!');
  return db.transaction(async (trx): Promise<ConsumeRecoveryCodeResult> => {
    const used: { id: string; batch_id: string }[] =
      normalized === null
        ? []
        : await trx('recovery_codes')
            .where({ user_id: userId, code_hash: hash })
            .whereNull('used_at')
            .update({ used_at: trx.fn.now() })
            .returning(['id', 'batch_id']);
    const hit = used[0];
    if (!hit) {
      await audit(trx, userId, ctx, 'auth.recovery_code.used', 'failure', { reason: normalized === null ? 'malformed' : 'no_match' });
      return { ok: false, reason: 'invalid' };
    }
    const remaining = await countUnused(trx, userId);
    await audit(trx, userId, ctx, 'auth.recovery_code.used', 'success', { code_id: hit.id, batch_id: hit.batch_id, remaining });
    return { ok: true, remaining };
  });
}

async function countUnused(q: Knex | Knex.Transaction, userId: string): Promise<number> {
  const row = await q('recovery_codes').where({ user_id: userId }).whereNull('used_at').count<{ n: string | number }[]>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** How many unused codes the user has left (0 when none were ever generated). */
export async function countRemainingRecoveryCodes(db: Knex, userId: string): Promise<number> {
  if (!UUID.test(userId)) return 0;
  return countUnused(db, userId);
}

/** Removes all of a user's codes (e.g. when their last second factor is removed). */
export async function deleteRecoveryCodes(db: Knex, userId: string, ctx: MfaContext = {}): Promise<number> {
  if (!UUID.test(userId)) return 0;
  return db.transaction(async (trx) => {
    const n = await trx('recovery_codes').where({ user_id: userId }).delete();
    if (n > 0) await audit(trx, userId, ctx, 'mfa.recovery_codes.deleted', 'success', { count: n });
    return n;
  });
}
