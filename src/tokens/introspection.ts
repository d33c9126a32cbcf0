/**
 * Introspection (RFC 7662) and revocation (RFC 7009) decisions for self-contained access tokens,
 * on claims that were already verified (signature, issuer, `typ`, expiry). Pure: no I/O, no
 * HTTP, no engine — the OIDC layer feeds it and renders the result.
 */

/** The client capability that allows calling the introspection endpoint (contracts/jwt-claims.md). */
export const INTROSPECT_SCOPE = 'iam.tokens.introspect';

export type SubjectType = 'user' | 'workload';

/** Claims of a verified IAM access token (contracts/jwt-claims.schema.json, access token payload). */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  tid?: string;
  sub_type?: SubjectType;
  grant_id?: string;
  acr?: string;
  amr?: string[];
  auth_time?: number;
  sid?: string;
  act?: Record<string, unknown>;
  cnf?: { jkt?: string; 'x5t#S256'?: string };
}

/** Who asks: the authenticated client at the introspection or revocation endpoint. */
export interface Caller {
  clientId: string;
  /** null for a platform client. */
  tenantId: string | null;
  allowedScopes: readonly string[];
  /** `token_endpoint_auth_method === 'none'`. */
  isPublic: boolean;
}

export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>);

export const INACTIVE: IntrospectionResponse = Object.freeze({ active: false }) as IntrospectionResponse;

/** May this client use the introspection endpoint at all? */
export function mayIntrospect(caller: Caller): boolean {
  return caller.allowedScopes.includes(INTROSPECT_SCOPE);
}

/**
 * Tenant isolation: a tenant's client only learns about tokens of its own tenant; a platform
 * client (no tenant) about every token of the deployment. Anything else reads as inactive.
 */
export function mayLearnAbout(caller: Caller, tokenTenant: string | undefined): boolean {
  return caller.tenantId === null || caller.tenantId === tokenTenant;
}

/**
 * Parses a verified JWT payload into the claims IAM issues; undefined when a member has the
 * wrong type (a token we did not mint in this shape is not active, whatever its signature).
 */
export function parseAccessTokenClaims(p: Record<string, unknown>): AccessTokenClaims | undefined {
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!str(p.iss) || !str(p.sub) || !str(p.jti) || !str(p.client_id) || !num(p.exp) || !num(p.iat)) return undefined;
  if (!(str(p.aud) || (Array.isArray(p.aud) && p.aud.length > 0 && p.aud.every(str)))) return undefined;
  for (const k of ['scope', 'tid', 'grant_id', 'acr', 'sid'] as const) if (p[k] !== undefined && typeof p[k] !== 'string') return undefined;
  if (p.sub_type !== undefined && p.sub_type !== 'user' && p.sub_type !== 'workload') return undefined;
  if (p.amr !== undefined && !(Array.isArray(p.amr) && p.amr.every((x) => typeof x === 'string'))) return undefined;
  if (p.auth_time !== undefined && !num(p.auth_time)) return undefined;
  for (const k of ['act', 'cnf'] as const) {
    if (p[k] !== undefined && (p[k] === null || typeof p[k] !== 'object' || Array.isArray(p[k]))) return undefined;
  }
  return p as unknown as AccessTokenClaims;
}

/** RFC 7662 `token_type`: DPoP-bound tokens are `DPoP`, every other one `Bearer`. */
export const tokenTypeOf = (c: Pick<AccessTokenClaims, 'cnf'>): 'DPoP' | 'Bearer' => (c.cnf?.jkt ? 'DPoP' : 'Bearer');

/** The active introspection response for a verified, unrevoked token (members absent stay absent). */
export function activeResponse(c: AccessTokenClaims): IntrospectionResponse {
  const out: Record<string, unknown> = {
    active: true,
    iss: c.iss,
    sub: c.sub,
    aud: c.aud,
    exp: c.exp,
    iat: c.iat,
    jti: c.jti,
    client_id: c.client_id,
    token_type: tokenTypeOf(c),
    sub_type: c.sub_type ?? (c.sub === c.client_id ? 'workload' : 'user'),
  };
  const optional = ['scope', 'tid', 'grant_id', 'acr', 'amr', 'auth_time', 'sid', 'act', 'cnf'] as const;
  for (const k of optional) if (c[k] !== undefined) out[k] = c[k];
  return out as IntrospectionResponse;
}

export type RevocationDecision =
  /** Issued to the caller: denylist it. */
  | 'revoke'
  /** Not the caller's and the caller is public: answer 200 and do nothing (no token oracle). */
  | 'ignore'
  /** Not the caller's, confidential caller: refuse (RFC 7009 §2.1), as the engine does for stored tokens. */
  | 'refuse';

export function revocationDecision(caller: Caller, c: Pick<AccessTokenClaims, 'client_id'>): RevocationDecision {
  if (c.client_id === caller.clientId) return 'revoke';
  return caller.isPublic ? 'ignore' : 'refuse';
}
