import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { envelopeKekId } from '../crypto/envelope.ts';
import { KeyError } from './errors.ts';

/**
 * A private key encrypted at rest: a fresh data-encryption key (DEK) per key encrypts the
 * PKCS#8 DER, and the key-encryption key (KEK) wraps the DEK. Both layers are AES-256-GCM with
 * the kid as additional authenticated data, so an envelope cannot be moved to another row.
 */
export interface PrivateKeyEnvelope {
  v: 1;
  /** Fingerprint of the KEK that wrapped the DEK: a wrong KEK fails with a clear message. */
  kek_id: string;
  wrapped_dek: string;
  dek_iv: string;
  dek_tag: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

const b64u = (b: Buffer) => b.toString('base64url');
const fromB64u = (s: string) => Buffer.from(s, 'base64url');

/** A short, non-reversible identifier of a KEK: one fingerprint for every envelope in the service. */
export const kekId: (kek: Buffer) => string = envelopeKekId;

function assertKek(kek: Buffer): void {
  // A caller mistake, not bad data: config validation already guarantees 32 bytes.
  if (kek.length !== 32) throw new TypeError('KEK must be 32 bytes');
}

function seal(key: Buffer, plaintext: Buffer, aad: string): { iv: Buffer; tag: Buffer; ciphertext: Buffer } {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { iv, tag: c.getAuthTag(), ciphertext };
}

function open(key: Buffer, parts: { iv: string; tag: string; ciphertext: string }, aad: string): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, fromB64u(parts.iv));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(fromB64u(parts.tag));
  return Buffer.concat([d.update(fromB64u(parts.ciphertext)), d.final()]);
}

const dekAad = (kid: string) => `iam-signing-key:v1:dek:${kid}`;
const keyAad = (kid: string) => `iam-signing-key:v1:key:${kid}`;

export function sealPrivateKey(kek: Buffer, kid: string, pkcs8Der: Buffer): PrivateKeyEnvelope {
  assertKek(kek);
  const dek = randomBytes(32);
  try {
    const wrapped = seal(kek, dek, dekAad(kid));
    const body = seal(dek, pkcs8Der, keyAad(kid));
    return {
      v: 1,
      kek_id: kekId(kek),
      wrapped_dek: b64u(wrapped.ciphertext),
      dek_iv: b64u(wrapped.iv),
      dek_tag: b64u(wrapped.tag),
      iv: b64u(body.iv),
      tag: b64u(body.tag),
      ciphertext: b64u(body.ciphertext),
    };
  } finally {
    dek.fill(0);
  }
}

/** Returns the PKCS#8 DER; throws KeyError `kek_mismatch` or `envelope_invalid`. */
export function openPrivateKey(kek: Buffer, kid: string, env: PrivateKeyEnvelope): Buffer {
  assertKek(kek);
  if (env?.v !== 1) throw new KeyError('envelope_invalid', `private key envelope of ${kid} has an unknown format version`);
  const expected = kekId(kek);
  if (env.kek_id !== expected) {
    throw new KeyError(
      'kek_mismatch',
      `private key of ${kid} was encrypted under KEK ${env.kek_id} but the configured KEK is ${expected}: set keys.kek to the KEK this database was created with`,
    );
  }
  let dek: Buffer;
  try {
    dek = open(kek, { iv: env.dek_iv, tag: env.dek_tag, ciphertext: env.wrapped_dek }, dekAad(kid));
  } catch (cause) {
    throw new KeyError('envelope_invalid', `private key envelope of ${kid} failed authentication (wrapped key tampered or corrupt)`, {
      cause,
    });
  }
  try {
    return open(dek, env, keyAad(kid));
  } catch (cause) {
    throw new KeyError('envelope_invalid', `private key envelope of ${kid} failed authentication (ciphertext tampered or corrupt)`, {
      cause,
    });
  } finally {
    dek.fill(0);
  }
}
