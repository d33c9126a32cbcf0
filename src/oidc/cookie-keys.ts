import { hkdfSync } from 'node:crypto';

/**
 * Secrets every instance must share, derived from the KEK (which every instance already holds)
 * so there is no second secret to distribute. Each derivation has its own HKDF `info` label, so
 * the outputs are independent of each other and of the KEK's own use (AES key wrapping).
 *
 * A KEK change therefore also changes these secrets: sessions and interactions (cookies) and
 * outstanding DPoP nonces become invalid, which is acceptable for short-lived browser state.
 */
const derive = (kek: Buffer, info: string, length = 32) => Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), info, length));

/**
 * Cookie signing keys (Keygrip order: the first signs, every key verifies). Versions come from
 * `oidc.cookie_key_versions`; rotating means prepending a new version on every instance and
 * dropping the old one once cookies signed with it have expired (three rolling steps:
 * `[1]` → `[1, 2]` → `[2, 1]` → `[2]`, so no instance ever meets a cookie it cannot verify).
 * Version 1 is the derivation the foundation shipped with, so existing cookies stay valid.
 */
export function deriveCookieKeys(kek: Buffer, versions: readonly number[] = [1]): string[] {
  if (versions.length === 0) throw new TypeError('at least one cookie key version is required');
  return versions.map((v) => derive(kek, `iam/cookie-keys/v${v}`).toString('base64url'));
}

/**
 * The DPoP nonce secret (RFC 9449 §8): nonces are derived from it rather than stored, so it must
 * be the same on every instance and stable across restarts (32 bytes, as the engine requires).
 */
export function deriveDpopNonceSecret(kek: Buffer): Buffer {
  return derive(kek, 'iam/dpop-nonce/v1');
}
