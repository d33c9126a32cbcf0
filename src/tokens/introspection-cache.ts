import { INACTIVE, type IntrospectionResponse } from './introspection.ts';

export interface IntrospectionCacheOptions {
  /** How long a positive answer is reused (0 disables the cache). */
  ttlMs: number;
  /** Entries kept at most; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

export interface IntrospectionCache {
  get(jti: string): IntrospectionResponse | undefined;
  /**
   * The cached answer for this exact token string: a repeat presentation skips signature
   * verification too (the same bytes verify the same way; a key change clears the cache).
   */
  getByToken(token: string): IntrospectionResponse | undefined;
  /** Stores a positive answer until min(ttl, token expiry) — unless the token or its grant was revoked meanwhile. */
  set(jti: string, grantId: string | undefined, response: IntrospectionResponse, expSeconds: number, token?: string): void;
  /** A revocation this instance saw (its own, or a NOTIFY from another): forget and refuse to re-learn. */
  revokeJti(jti: string): void;
  revokeGrant(grantId: string): void;
  /** True when this instance already read from the database that the token (or its grant) is revoked. */
  knownRevoked(jti: string): boolean;
  /** Remembers a revocation read from the database until the token would expire anyway (revocations are final). */
  rememberRevoked(jti: string, expSeconds: number, token?: string): void;
  clear(): void;
  readonly size: number;
}

interface Entry {
  response: IntrospectionResponse;
  grantId: string | undefined;
  until: number;
  token?: string;
}

/**
 * In-process cache of positive introspection answers for JWT access tokens, keyed by `jti`.
 * It never outlives a revocation this instance has seen: revoking evicts the entry (and every
 * entry of a revoked grant) and leaves a tombstone for one TTL, so an answer computed from a
 * database read that raced with the revocation cannot be stored afterwards.
 */
export function createIntrospectionCache(opts: IntrospectionCacheOptions): IntrospectionCache {
  const ttl = opts.ttlMs;
  const max = opts.maxEntries ?? 50_000;
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const byGrant = new Map<string, Set<string>>();
  const deadJtis = new Map<string, number>();
  const deadGrants = new Map<string, number>();
  // Revocations are permanent, so "revoked" answers can be kept until the token's own expiry:
  // repeated presentations of a revoked token then cost no database read.
  const revoked = new Map<string, number>();
  const byToken = new Map<string, string>();
  // Revoked token strings: a revoked token presented again is refused without re-verifying it.
  const revokedTokens = new Map<string, string>();

  const drop = (jti: string) => {
    const e = entries.get(jti);
    if (!e) return;
    entries.delete(jti);
    if (e.token) byToken.delete(e.token);
    if (e.grantId) {
      const set = byGrant.get(e.grantId);
      set?.delete(jti);
      if (set?.size === 0) byGrant.delete(e.grantId);
    }
  };
  const tombstoned = (map: Map<string, number>, key: string | undefined, at: number) => {
    if (key === undefined) return false;
    const until = map.get(key);
    if (until === undefined) return false;
    if (until > at) return true;
    map.delete(key);
    return false;
  };
  const bury = (map: Map<string, number>, key: string) => {
    map.set(key, now() + Math.max(ttl, 1_000));
    // Bounded like the entries: old tombstones are the first to go.
    while (map.size > max) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  };

  return {
    get(jti) {
      if (ttl <= 0) return undefined;
      const e = entries.get(jti);
      if (!e) return undefined;
      if (e.until <= now()) {
        drop(jti);
        return undefined;
      }
      return e.response;
    },
    getByToken(token) {
      const jti = byToken.get(token);
      if (jti !== undefined) return this.get(jti);
      const revokedJti = revokedTokens.get(token);
      return revokedJti !== undefined && this.knownRevoked(revokedJti) ? INACTIVE : undefined;
    },
    set(jti, grantId, response, expSeconds, token) {
      if (ttl <= 0 || !response.active) return;
      const at = now();
      if (tombstoned(deadJtis, jti, at) || tombstoned(deadGrants, grantId, at)) return;
      const until = Math.min(at + ttl, expSeconds * 1000);
      if (until <= at) return;
      drop(jti);
      entries.set(jti, { response, grantId, until, token });
      if (token) byToken.set(token, jti);
      if (grantId) {
        const set = byGrant.get(grantId) ?? new Set<string>();
        set.add(jti);
        byGrant.set(grantId, set);
      }
      while (entries.size > max) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        drop(oldest);
      }
    },
    revokeJti(jti) {
      drop(jti);
      bury(deadJtis, jti);
    },
    revokeGrant(grantId) {
      for (const jti of byGrant.get(grantId) ?? []) drop(jti);
      byGrant.delete(grantId);
      bury(deadGrants, grantId);
    },
    knownRevoked(jti) {
      // Only revocations confirmed by the database count; a tombstone merely forces a re-read.
      const until = revoked.get(jti);
      if (until === undefined) return false;
      if (until > now()) return true;
      revoked.delete(jti);
      return false;
    },
    rememberRevoked(jti, expSeconds, token) {
      const until = expSeconds * 1000;
      if (until <= now()) return;
      revoked.set(jti, until);
      if (token) revokedTokens.set(token, jti);
      while (revoked.size > max) {
        const oldest = revoked.keys().next().value;
        if (oldest === undefined) break;
        revoked.delete(oldest);
      }
      while (revokedTokens.size > max) {
        const oldest = revokedTokens.keys().next().value;
        if (oldest === undefined) break;
        revokedTokens.delete(oldest);
      }
    },
    clear() {
      // Only positive answers go: what is known to be revoked stays revoked.
      entries.clear();
      byGrant.clear();
      byToken.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
