import { type JSONWebKeySet, errors as joseErrors, jwtVerify } from 'jose';
import { AppError } from '../errors/index.ts';
import { followKeySet } from '../keys/local-key-set.ts';
import type { ApiCaller } from './check-api.ts';

export interface CallerAuthOptions {
  issuer: string;
  /** Audience IAM's own API accepts (its resource indicator). */
  audience: string;
  jwks: () => JSONWebKeySet;
  /** Database revocation check (jti denylist, revoked grants); errors propagate, so an outage fails closed. */
  isRevoked: (token: { jti: string; grantId?: string }) => Promise<boolean>;
  /** How long a verified token is reused without re-verifying it (0 disables). */
  ttlMs: number;
  maxEntries?: number;
}

export interface CallerAuthenticator {
  /** The caller behind a bearer token (Profile A: signature, iss, aud, typ, exp, not revoked); `unauthorized` otherwise. */
  authenticate(token: string): Promise<ApiCaller>;
  /** A revocation announced by any instance: forget the token (or every token of the grant). */
  revokeJti(jti: string): void;
  revokeGrant(grantId: string): void;
  clear(): void;
}

interface Entry {
  /** The whole token: entries are found by its tail and confirmed against it. */
  token: string;
  caller: ApiCaller;
  jti: string;
  grantId?: string;
  until: number;
}

/*
 * Entries are keyed by the token's last characters (its signature: ES256 signatures are random, so
 * unique per token) and confirmed by comparing the whole token. Hashing a ~700-character key on every
 * call cost more than the rest of the lookup; a tail that two tokens share only costs a re-verification.
 */
const KEY_CHARS = 32;
const keyOf = (token: string) => (token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token);

const unauthorized = () => new AppError('unauthorized', { detail: 'the access token is invalid, expired or revoked' });

/**
 * Verifies the check API's bearer tokens (the same trust profile as `bearerAuth`) and keeps
 * verified ones for a short while, so a cached check costs no signature verification and no
 * database read. A revocation (NOTIFY, any instance) evicts the token at once; a verification
 * that raced with a revocation is not kept (generation counter); a JWKS change (rotation,
 * emergency key revocation) drops everything.
 */
export function createCallerAuthenticator(opts: CallerAuthOptions): CallerAuthenticator {
  const max = opts.maxEntries ?? 50_000;
  const entries = new Map<string, Entry>();
  let generation = 0;
  const currentKeySet = followKeySet(opts.jwks, {
    onChange: () => {
      entries.clear();
      generation++;
    },
  });

  const verify = async (token: string): Promise<Entry> => {
    try {
      const { payload } = await jwtVerify(token, currentKeySet(), {
        issuer: opts.issuer,
        audience: opts.audience,
        typ: 'at+jwt',
        algorithms: ['ES256'],
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      });
      const caller: ApiCaller = { sub: String(payload.sub), subType: payload.sub_type === 'user' ? 'user' : 'workload' };
      if (typeof payload.tid === 'string') caller.tenantId = payload.tid;
      if (typeof payload.client_id === 'string') caller.clientId = payload.client_id;
      const cnf = payload.cnf as Record<string, unknown> | undefined;
      if (typeof cnf?.['x5t#S256'] === 'string') caller.certThumbprint = cnf['x5t#S256'];
      const entry: Entry = {
        token,
        caller,
        jti: String(payload.jti),
        until: Math.min(Date.now() + opts.ttlMs, (payload.exp as number) * 1000),
      };
      if (typeof payload.grant_id === 'string') entry.grantId = payload.grant_id;
      return entry;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw unauthorized();
      throw err;
    }
  };

  return {
    async authenticate(token) {
      currentKeySet();
      const key = keyOf(token);
      const hit = entries.get(key);
      if (hit?.token === token) {
        if (hit.until > Date.now()) return hit.caller;
        entries.delete(key);
      }
      const gen = generation;
      const entry = await verify(token);
      if (await opts.isRevoked({ jti: entry.jti, grantId: entry.grantId })) throw unauthorized();
      if (opts.ttlMs > 0 && gen === generation && entry.until > Date.now()) {
        entries.set(key, entry);
        while (entries.size > max) {
          const oldest = entries.keys().next().value;
          if (oldest === undefined) break;
          entries.delete(oldest);
        }
      }
      return entry.caller;
    },
    revokeJti(jti) {
      generation++;
      for (const [k, e] of entries) if (e.jti === jti) entries.delete(k);
    },
    revokeGrant(grantId) {
      generation++;
      for (const [k, e] of entries) if (e.grantId === grantId) entries.delete(k);
    },
    clear() {
      generation++;
      entries.clear();
    },
  };
}
