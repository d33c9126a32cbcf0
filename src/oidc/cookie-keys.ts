import { hkdfSync } from 'node:crypto';

/**
 * Cookie signing keys must be identical on every instance. Deriving them from the KEK
 * (which every instance already shares) avoids a second secret to distribute.
 */
export function deriveCookieKeys(kek: Buffer): string[] {
  return [Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'iam/cookie-keys/v1', 32)).toString('base64url')];
}
