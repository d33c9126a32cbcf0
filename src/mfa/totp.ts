import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { generateURI, verify as verifyOtp } from 'otplib';
import QRCode from 'qrcode';
import { openEnvelope, type SealedEnvelope, sealEnvelope } from '../crypto/envelope.ts';
import { AppError } from '../errors/index.ts';
import { audit, lockActiveUser, type MfaContext, UUID } from './context.ts';

/**
 * TOTP second factor (RFC 6238, ADR-0013): HMAC-SHA1, 6 digits, 30-second steps, accepted within
 * ±1 step of the server clock. A code is accepted at most once: the matched step must be greater
 * than the credential's `last_used_step`, and recording it is a conditional UPDATE whose row count
 * decides, so parallel uses of one code yield exactly one success. Seeds (160 bits) are sealed
 * under the KEK with AAD = user id + credential id, so a copied envelope does not open elsewhere.
 */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
export const TOTP_ALGORITHM = 'SHA1';
export const TOTP_SECRET_BYTES = 20;
/** Accepted drift in steps either side of the server's current step. */
export const TOTP_WINDOW_STEPS = 1;
/** An unconfirmed enrolment must be confirmed within this time or enrolment starts over. */
export const TOTP_ENROLMENT_TTL_SECONDS = 15 * 60;

export interface TotpEnrolment {
  credentialId: string;
  /** The seed in RFC 4648 base32 without padding (32 characters), for manual entry. Shown once. */
  secretBase32: string;
  otpauthUri: string;
  /** The otpauth URI as a QR code, rendered here (no external service); safe to inline. */
  qrSvg: string;
}

export interface EnrolTotpInput {
  userId: string;
  /** Shown in the authenticator app next to the issuer, e.g. the user's email. */
  accountName: string;
  /** The service name shown in the authenticator app, e.g. "InfraNotes". */
  serviceName: string;
  /** Optional user-chosen label for the authenticator. */
  name?: string;
}

export type ConfirmTotpResult = { ok: true; replacedCredentialIds: string[] } | { ok: false; reason: 'invalid' | 'expired' | 'not_found' };

/** `invalid` covers a wrong code, one outside the window and a replayed one alike (no oracle). */
export type VerifyTotpResult = { ok: true; credentialId: string } | { ok: false; reason: 'invalid' | 'not_enrolled' };

export interface TotpCredentialSummary {
  credentialId: string;
  name: string | null;
  createdAt: Date;
  confirmedAt: Date;
  lastUsedAt: Date | null;
}

interface TotpRow {
  id: string;
  user_id: string;
  secret_envelope: SealedEnvelope;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  digits: 6 | 8;
  period_seconds: number;
  last_used_step: number | string | null;
  created_at: Date;
  confirmed_at: Date | null;
}

const totpAad = (userId: string, credentialId: string) => `totp:${userId.toLowerCase()}:${credentialId.toLowerCase()}`;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, no padding (what authenticator apps expect). */
export function toBase32(bytes: Uint8Array): string {
  let out = '';
  let value = 0;
  let bits = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Digits only after removing spaces (apps show "123 456"); anything else can never match. */
function normalizeCode(code: unknown, digits: number): string | null {
  if (typeof code !== 'string' || code.length > 32) return null;
  const c = code.replace(/\s+/g, '');
  return c.length === digits && /^[0-9]+$/.test(c) ? c : null;
}

/**
 * The time step a code belongs to within ±TOTP_WINDOW_STEPS of `epochSeconds`, or null.
 * otplib compares in constant time; the tolerance of one period either side of `epoch` covers
 * exactly the previous, current and next step.
 */
async function matchStep(row: TotpRow, secret: Uint8Array, code: string, epochSeconds: number): Promise<number | null> {
  try {
    const result = await verifyOtp({
      secret,
      token: code,
      epoch: epochSeconds,
      period: row.period_seconds,
      digits: row.digits,
      algorithm: row.algorithm.toLowerCase() as 'sha1' | 'sha256' | 'sha512',
      epochTolerance: row.period_seconds * TOTP_WINDOW_STEPS,
    });
    return result.valid && 'timeStep' in result ? result.timeStep : null;
  } catch {
    return null;
  }
}

function openSecret(kek: Buffer, row: TotpRow): Buffer {
  return openEnvelope(kek, row.secret_envelope, totpAad(row.user_id, row.id));
}

const epochOf = (now?: Date) => Math.floor((now ?? new Date()).getTime() / 1000);
const lastStep = (row: TotpRow) => (row.last_used_step === null ? null : Number(row.last_used_step));

/**
 * Starts an enrolment: a fresh seed, sealed at rest, in an unconfirmed credential that replaces
 * any earlier unconfirmed one of the user. The caller must have re-authenticated the user
 * (ASVS 7.5.1) and shows the QR code and manual key once; nothing here is retrievable later.
 */
export async function enrolTotp(db: Knex, kek: Buffer, input: EnrolTotpInput, ctx: MfaContext = {}): Promise<TotpEnrolment> {
  const accountName = input.accountName.trim();
  const serviceName = input.serviceName.replace(/:/g, ' ').replace(/\s+/g, ' ').trim();
  if (!accountName || accountName.length > 320) throw new TypeError('accountName must be 1-320 characters');
  if (!serviceName || serviceName.length > 100) throw new TypeError('serviceName must be 1-100 characters');
  const name = input.name?.trim().slice(0, 100) || null;

  const secret = randomBytes(TOTP_SECRET_BYTES);
  try {
    const secretBase32 = toBase32(secret);
    const credentialId = await db.transaction(async (trx) => {
      if (!(await lockActiveUser(trx, input.userId))) throw new AppError('not_found', { detail: 'user not found' });
      await trx('totp_credentials').where({ user_id: input.userId }).whereNull('confirmed_at').delete();
      const { rows } = await trx.raw<{ rows: { id: string }[] }>('select uuidv7()::text as id');
      const id = rows[0]?.id as string;
      const envelope = sealEnvelope(kek, secret, totpAad(input.userId, id));
      await trx('totp_credentials').insert({
        id,
        user_id: input.userId,
        secret_envelope: JSON.stringify(envelope),
        algorithm: TOTP_ALGORITHM,
        digits: TOTP_DIGITS,
        period_seconds: TOTP_PERIOD_SECONDS,
        name,
      });
      await audit(trx, input.userId, ctx, 'mfa.totp.enrolled', 'success', { credential_id: id });
      return id;
    });
    const otpauthUri = generateURI({
      issuer: serviceName,
      label: accountName,
      secret: secretBase32,
      algorithm: 'sha1',
      digits: TOTP_DIGITS,
      period: TOTP_PERIOD_SECONDS,
    });
    const qrSvg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { credentialId, secretBase32, otpauthUri, qrSvg };
  } finally {
    secret.fill(0);
  }
}

/**
 * Confirms an enrolment with a first valid code. The confirmed credential replaces any other
 * TOTP credential of the user (one authenticator per user; re-enrolment swaps devices without a
 * window without TOTP). The confirming code's step is recorded, so it cannot be replayed at
 * sign-in.
 */
export async function confirmTotp(
  db: Knex,
  kek: Buffer,
  input: { userId: string; credentialId: string; code: string; now?: Date },
  ctx: MfaContext = {},
): Promise<ConfirmTotpResult> {
  const { userId, credentialId } = input;
  if (!UUID.test(userId) || !UUID.test(credentialId)) return { ok: false, reason: 'not_found' };
  const epoch = epochOf(input.now);
  return db.transaction(async (trx): Promise<ConfirmTotpResult> => {
    if (!(await lockActiveUser(trx, userId))) return { ok: false, reason: 'not_found' };
    const row: TotpRow | undefined = await trx('totp_credentials')
      .where({ id: credentialId, user_id: userId })
      .whereNull('confirmed_at')
      .forUpdate()
      .first();
    if (!row) return { ok: false, reason: 'not_found' };
    if (epoch - Math.floor(row.created_at.getTime() / 1000) > TOTP_ENROLMENT_TTL_SECONDS) {
      await trx('totp_credentials').where({ id: row.id }).delete();
      await audit(trx, userId, ctx, 'mfa.totp.confirmed', 'failure', { credential_id: row.id, reason: 'expired' });
      return { ok: false, reason: 'expired' };
    }
    const code = normalizeCode(input.code, row.digits);
    const secret = openSecret(kek, row);
    let step: number | null;
    try {
      step = code === null ? null : await matchStep(row, secret, code, epoch);
    } finally {
      secret.fill(0);
    }
    if (step === null) {
      await audit(trx, userId, ctx, 'mfa.totp.confirmed', 'failure', { credential_id: row.id, reason: 'mismatch' });
      return { ok: false, reason: 'invalid' };
    }
    const replaced: string[] = await trx('totp_credentials')
      .where({ user_id: userId })
      .whereNot({ id: row.id })
      .delete()
      .returning('id')
      .then((rows: { id: string }[]) => rows.map((r) => r.id));
    await trx('totp_credentials')
      .where({ id: row.id })
      .update({ confirmed_at: trx.fn.now(), last_used_step: step, last_used_at: trx.fn.now() });
    await audit(trx, userId, ctx, 'mfa.totp.confirmed', 'success', { credential_id: row.id, replaced_credential_ids: replaced });
    return { ok: true, replacedCredentialIds: replaced };
  });
}

/**
 * Verifies a sign-in (or step-up) code against the user's confirmed credential. Rate limiting
 * and lockout are the caller's (every attempt, including `not_enrolled`, is audited here).
 */
export async function verifyTotp(
  db: Knex,
  kek: Buffer,
  userId: string,
  code: string,
  now?: Date,
  ctx: MfaContext = {},
): Promise<VerifyTotpResult> {
  const epoch = epochOf(now);
  const row: TotpRow | undefined = UUID.test(userId)
    ? await db('totp_credentials').where({ user_id: userId }).whereNotNull('confirmed_at').first()
    : undefined;
  if (!row) {
    if (UUID.test(userId))
      await db.transaction((trx) => audit(trx, userId, ctx, 'auth.totp.verified', 'failure', { reason: 'not_enrolled' }));
    return { ok: false, reason: 'not_enrolled' };
  }

  const normalized = normalizeCode(code, row.digits);
  const secret = openSecret(kek, row);
  let step: number | null;
  try {
    step = normalized === null ? null : await matchStep(row, secret, normalized, epoch);
  } finally {
    secret.fill(0);
  }

  return db.transaction(async (trx): Promise<VerifyTotpResult> => {
    const fail = async (reason: 'mismatch' | 'replay') => {
      await audit(trx, userId, ctx, 'auth.totp.verified', 'failure', { credential_id: row.id, reason });
      return { ok: false, reason: 'invalid' } as const;
    };
    if (step === null) return fail('mismatch');
    const last = lastStep(row);
    if (last !== null && step <= last) return fail('replay');
    // The row count decides: a parallel use of the same (or an earlier) step loses here.
    const updated = await trx('totp_credentials')
      .where({ id: row.id })
      .whereNotNull('confirmed_at')
      .andWhere((q) => q.whereNull('last_used_step').orWhere('last_used_step', '<', step))
      .update({ last_used_step: step, last_used_at: trx.fn.now() });
    if (updated !== 1) return fail('replay');
    await audit(trx, userId, ctx, 'auth.totp.verified', 'success', {
      credential_id: row.id,
      drift_steps: step - Math.floor(epoch / row.period_seconds),
    });
    return { ok: true, credentialId: row.id };
  });
}

/** The user's confirmed TOTP credential, if any (what the sign-in flow offers). */
export async function getTotpCredential(db: Knex, userId: string): Promise<TotpCredentialSummary | null> {
  if (!UUID.test(userId)) return null;
  const row = await db('totp_credentials')
    .where({ user_id: userId })
    .whereNotNull('confirmed_at')
    .first('id', 'name', 'created_at', 'confirmed_at', 'last_used_at');
  if (!row) return null;
  return { credentialId: row.id, name: row.name, createdAt: row.created_at, confirmedAt: row.confirmed_at, lastUsedAt: row.last_used_at };
}

/**
 * Removes one TOTP credential (or, without `credentialId`, all of the user's, e.g. an admin
 * reset). Returns how many were removed. The caller must have re-authenticated the user and
 * should offer to end other sessions (ASVS 7.4.3).
 */
export async function removeTotp(db: Knex, input: { userId: string; credentialId?: string }, ctx: MfaContext = {}): Promise<number> {
  if (!UUID.test(input.userId) || (input.credentialId !== undefined && !UUID.test(input.credentialId))) return 0;
  return db.transaction(async (trx) => {
    const q = trx('totp_credentials').where({ user_id: input.userId });
    if (input.credentialId) q.andWhere({ id: input.credentialId });
    const removed: { id: string }[] = await q.delete().returning('id');
    if (removed.length > 0) {
      await audit(trx, input.userId, ctx, 'mfa.totp.removed', 'success', { credential_ids: removed.map((r) => r.id) });
    }
    return removed.length;
  });
}
