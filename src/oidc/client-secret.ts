import { timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import { hashClientSecret } from '../clients/index.ts';

/** SHA-256 hashes of a client's currently valid secrets (`ClientCache.validSecretHashes`). */
export type SecretHashLookup = (clientId: string) => Promise<Buffer[]>;

// Longest presented secret worth hashing: ours are 43 characters; anything far longer is noise.
const MAX_PRESENTED_LENGTH = 512;

/**
 * Makes the engine verify client secrets against stored SHA-256 hashes.
 *
 * Why this seam exists: oidc-provider authenticates client_secret_basic/post by calling
 * `client.compareClientSecret(presented)` (lib/shared/client_auth.js), whose default compares with
 * `client.clientSecret` in constant time — it needs the plaintext, which we never keep
 * (DESIGN §6). It is the only place where client code touches engine internals: a method of the
 * per-provider `Client` class. Contract (oidc-provider 9.13.x, lib/models/client.js): called with
 * the presented secret (a string), after the client was found and its auth method matched;
 * returns (or resolves to) a boolean; the engine answers 401 invalid_client on false. It must not
 * throw for a wrong secret; a lookup failure (database down) rejects, and the engine answers
 * server_error — never a successful authentication.
 *
 * Every hash is compared (no early exit) with timingSafeEqual. The metadata's `client_secret`
 * is a placeholder (adapters/client.ts) that this check never reads, and client_secret_jwt —
 * where the engine would use that placeholder as the HMAC key — is refused at registration.
 *
 * Install it on every Provider instance (each has its own Client class), i.e. inside the
 * function that builds the provider, so rebuilt engines keep it. Re-check on engine upgrades.
 */
export function installHashedClientSecrets(provider: Provider, lookup: SecretHashLookup): void {
  const proto = provider.Client.prototype as { compareClientSecret(actual: string): Promise<boolean>; clientId: string };
  if (typeof proto.compareClientSecret !== 'function') {
    throw new Error('oidc-provider Client.prototype.compareClientSecret is missing: the engine changed, review src/oidc/client-secret.ts');
  }
  proto.compareClientSecret = async function compareHashedClientSecret(this: { clientId: string }, actual: string): Promise<boolean> {
    if (typeof actual !== 'string' || actual.length === 0 || actual.length > MAX_PRESENTED_LENGTH) return false;
    const presented = hashClientSecret(actual);
    const valid = await lookup(this.clientId);
    let match = false;
    for (const hash of valid) {
      if (hash.length === presented.length && timingSafeEqual(hash, presented)) match = true;
    }
    return match;
  };
}
