import { type JSONWebKeySet, type JWK, errors as joseErrors, jwtVerify } from 'jose';
import type { VerificationKey } from '../keys/index.ts';
import { followKeySet } from '../keys/local-key-set.ts';
import { type AccessTokenClaims, parseAccessTokenClaims } from '../tokens/index.ts';

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: 'expired' | 'invalid' };

/** Longest JWT access token we bother parsing; ours are well under 2 KB. */
const MAX_TOKEN_LENGTH = 8_192;

/**
 * Verifies IAM JWT access tokens the way a Profile A resource server must (ADR-0003): signature by
 * a published `access` key (ES256 only — the Ed25519 `refresh` key never signs a token,
 * ADR-0011), `typ: at+jwt`, our issuer, not expired. Keys come from the key store, so tokens of a
 * retired key verify until its grace ends and a revoked key fails at once.
 */
export function createAccessTokenVerifier(opts: {
  issuer: string;
  keys: { jwks(): JSONWebKeySet; verificationKeys(): VerificationKey[] };
}): {
  verify(token: string): Promise<VerifyResult>;
  /** Changes identity whenever the published key set does (rotation, revoke, end of a grace). */
  keySetGeneration(): object;
} {
  // Only access-token keys verify: a JWT signed by the Ed25519 refresh key is never an access token (ADR-0011).
  const currentKeySet = followKeySet(() => opts.keys.jwks(), {
    select: () => ({
      keys: opts.keys
        .verificationKeys()
        .filter((k) => k.purpose === 'access')
        .map((k) => k.publicJwk as JWK),
    }),
  });

  return {
    keySetGeneration: () => opts.keys.jwks(),
    async verify(token) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'invalid' };
      try {
        const { payload } = await jwtVerify(token, currentKeySet(), {
          issuer: opts.issuer,
          typ: 'at+jwt',
          algorithms: ['ES256'],
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
        });
        const claims = parseAccessTokenClaims(payload as Record<string, unknown>);
        return claims ? { ok: true, claims } : { ok: false, reason: 'invalid' };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
        if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return { ok: false, reason: 'invalid' };
        throw err;
      }
    },
  };
}
