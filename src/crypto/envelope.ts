import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../errors/index.ts';

/**
 * Generic envelope encryption of small secrets at rest (TOTP seeds and the like), the same
 * construction as the signing-key envelope (ADR-0004): a fresh 256-bit data-encryption key (DEK)
 * per envelope encrypts the plaintext, the key-encryption key (KEK) wraps the DEK, both layers
 * AES-256-GCM. The caller's AAD (e.g. `totp:<user id>:<credential id>`) is bound into both
 * layers, so an envelope copied to another row, user or purpose fails to open.
 *
 * A KEK rotation only re-wraps the DEK (`rewrapEnvelope`); the ciphertext stays as it is.
 */
export interface SealedEnvelope {
  v: 1;
  /** Fingerprint of the KEK that wrapped the DEK (same derivation as the signing-key envelope). */
  kek_id: string;
  wrapped_dek: string;
  dek_iv: string;
  dek_tag: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

export type EnvelopeErrorReason = 'kek_mismatch' | 'envelope_invalid';

/** An envelope that cannot be opened: never the caller's fault, so a 500 without detail. */
export class EnvelopeError extends AppError {
  readonly reason: EnvelopeErrorReason;

  constructor(reason: EnvelopeErrorReason, message: string, opts: { cause?: unknown } = {}) {
    super('internal', { detail: message, cause: opts.cause, extensions: { reason } });
    this.name = 'EnvelopeError';
    this.reason = reason;
  }
}

const b64u = (b: Buffer) => b.toString('base64url');
const fromB64u = (s: string) => Buffer.from(s, 'base64url');

/** Same fingerprint as `src/keys/envelope.ts` so operators see one KEK id everywhere. */
export function envelopeKekId(kek: Buffer): string {
  return createHash('sha256').update('iam-kek-id\0').update(kek).digest('hex').slice(0, 16);
}

function assertKek(kek: Buffer): void {
  if (!Buffer.isBuffer(kek) || kek.length !== 32) throw new TypeError('KEK must be 32 bytes');
}

function assertAad(aad: string): void {
  if (typeof aad !== 'string' || aad.length === 0) throw new TypeError('envelope AAD must be a non-empty string');
}

const dekAad = (aad: string) => `iam-envelope:v1:dek:${aad}`;
const dataAad = (aad: string) => `iam-envelope:v1:data:${aad}`;

function gcmSeal(key: Buffer, plaintext: Buffer, aad: string) {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { iv, tag: c.getAuthTag(), ciphertext };
}

function gcmOpen(key: Buffer, parts: { iv: string; tag: string; ciphertext: string }, aad: string): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, fromB64u(parts.iv));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(fromB64u(parts.tag));
  return Buffer.concat([d.update(fromB64u(parts.ciphertext)), d.final()]);
}

function wrapDek(kek: Buffer, dek: Buffer, aad: string) {
  const wrapped = gcmSeal(kek, dek, dekAad(aad));
  return { kek_id: envelopeKekId(kek), wrapped_dek: b64u(wrapped.ciphertext), dek_iv: b64u(wrapped.iv), dek_tag: b64u(wrapped.tag) };
}

function unwrapDek(kek: Buffer, env: SealedEnvelope, aad: string): Buffer {
  if (env?.v !== 1 || typeof env.wrapped_dek !== 'string') throw new EnvelopeError('envelope_invalid', 'envelope has an unknown format');
  const expected = envelopeKekId(kek);
  if (env.kek_id !== expected) {
    throw new EnvelopeError(
      'kek_mismatch',
      `envelope was sealed under KEK ${env.kek_id} but the configured KEK is ${expected}: set keys.kek to the KEK this database was created with`,
    );
  }
  try {
    return gcmOpen(kek, { iv: env.dek_iv, tag: env.dek_tag, ciphertext: env.wrapped_dek }, dekAad(aad));
  } catch (cause) {
    throw new EnvelopeError('envelope_invalid', 'envelope failed authentication (wrapped key tampered, corrupt or moved)', { cause });
  }
}

/** Seals `plaintext` under a fresh DEK wrapped by `kek`; `aad` names what it belongs to. */
export function sealEnvelope(kek: Buffer, plaintext: Buffer, aad: string): SealedEnvelope {
  assertKek(kek);
  assertAad(aad);
  const dek = randomBytes(32);
  try {
    const body = gcmSeal(dek, plaintext, dataAad(aad));
    return { v: 1, ...wrapDek(kek, dek, aad), iv: b64u(body.iv), tag: b64u(body.tag), ciphertext: b64u(body.ciphertext) };
  } finally {
    dek.fill(0);
  }
}

/** Opens an envelope; throws EnvelopeError `kek_mismatch` or `envelope_invalid` (wrong AAD included). */
export function openEnvelope(kek: Buffer, env: SealedEnvelope, aad: string): Buffer {
  assertKek(kek);
  assertAad(aad);
  const dek = unwrapDek(kek, env, aad);
  try {
    return gcmOpen(dek, env, dataAad(aad));
  } catch (cause) {
    throw new EnvelopeError('envelope_invalid', 'envelope failed authentication (ciphertext tampered, corrupt or moved)', { cause });
  } finally {
    dek.fill(0);
  }
}

/** KEK rotation: the same ciphertext with its DEK re-wrapped under `newKek`. */
export function rewrapEnvelope(oldKek: Buffer, newKek: Buffer, env: SealedEnvelope, aad: string): SealedEnvelope {
  assertKek(oldKek);
  assertKek(newKek);
  assertAad(aad);
  const dek = unwrapDek(oldKek, env, aad);
  try {
    // Prove the body still opens before the old wrapping is thrown away.
    gcmOpen(dek, env, dataAad(aad)).fill(0);
    return { ...env, ...wrapDek(newKek, dek, aad) };
  } catch (cause) {
    if (cause instanceof EnvelopeError) throw cause;
    throw new EnvelopeError('envelope_invalid', 'envelope failed authentication (ciphertext tampered, corrupt or moved)', { cause });
  } finally {
    dek.fill(0);
  }
}

/**
 * A 32-byte secret derived from the KEK for one purpose (HKDF-SHA256, `info` = label), the same
 * scheme as the cookie keys: independent of the KEK's own use and of every other label.
 */
export function deriveKekSecret(kek: Buffer, label: string): Buffer {
  assertKek(kek);
  if (!label.startsWith('iam/')) throw new TypeError('derivation labels start with iam/');
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), label, 32));
}
