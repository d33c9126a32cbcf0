import { hash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url (43 characters): shown once, stored only as its SHA-256. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of the secret's UTF-8 bytes — the value `client_secrets.secret_hash` holds. A slow KDF
 * adds nothing for a generated 256-bit value and would cap client_credentials throughput.
 */
export function hashClientSecret(secret: string): Buffer {
  // One-shot hash: runs on every client authentication, where a Hash object costs measurably more.
  return hash('sha256', secret, 'buffer');
}

/** The last four characters, for operators to tell secrets apart. */
export const secretHint = (secret: string): string => secret.slice(-4);

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `cl_` + 16 characters from [A-Za-z0-9] (~95 bits; rejection sampling keeps it unbiased). */
export function generateClientId(): string {
  let out = '';
  while (out.length < 16) {
    for (const b of randomBytes(24)) {
      if (b < 248 && out.length < 16) out += ID_ALPHABET[b % 62];
    }
  }
  return `cl_${out}`;
}
