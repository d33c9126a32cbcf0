import { iamMetadata } from './client-metadata.ts';

/**
 * IAM claims added to every access token (contracts/jwt-claims.md). For JWT access tokens they
 * become top-level claims (the engine's RFC 9068 members — iss, sub, aud, exp, iat, jti,
 * client_id, scope, cnf — take precedence); for opaque tokens they are stored with the token and
 * returned by introspection.
 *
 * - `sub_type`: `user` when the token has an end-user (`accountId`), `workload` otherwise
 *   (client_credentials; then `sub` is the client_id, RFC 9068 §2.2);
 * - `tid`: the tenant — a tenant client's own; for a platform client's user token, the tenant
 *   selected at sign-in for its grant (src/oidc/tenant-selection.ts), when there is one;
 * - `roles`: with `tid`, the principal's role keys at tenant scope (src/oidc/role-claims.ts);
 * - `grant_id`: the grant the token was issued from, so a revoked grant revokes the token
 *   everywhere (introspection, and resource servers following `token.revoked` events);
 * - `acr`, `amr`, `auth_time`, `sid`: how and when the user authenticated, when a user is present.
 */
interface TokenLike {
  accountId?: string;
  grantId?: string;
  clientId?: string;
  client?: unknown;
  sid?: string;
}

interface AuthSource {
  acr?: string;
  amr?: string[];
  authTime?: number;
  sid?: string;
}

type Ctx = { oidc?: { entities?: Record<string, unknown>; client?: unknown } } | undefined;

/** Where the user's authentication facts live during the current grant (code, refresh, device, CIBA). */
function authSource(ctx: Ctx): AuthSource | undefined {
  const e = ctx?.oidc?.entities;
  if (!e) return undefined;
  return (e.RefreshToken ?? e.AuthorizationCode ?? e.DeviceCode ?? e.BackchannelAuthenticationRequest) as AuthSource | undefined;
}

export interface ExtraTokenClaimsOptions {
  /** The tenant selected for a platform client's grant (throws when it is no longer available). */
  grantTenant?: (grantId: string, accountId: string) => Promise<string | undefined>;
  /** A user token of a tenant's client: throws unless the user is still an active member. */
  requireMember?: (tenantId: string, accountId: string) => Promise<void>;
  /** `roles` of a token with `tid`: role keys at tenant scope (src/oidc/role-claims.ts). */
  roles?: (tenantId: string, subject: { accountId?: string; clientId?: string }) => Promise<string[]>;
}

export function createExtraTokenClaims(opts: ExtraTokenClaimsOptions = {}) {
  return (ctx: unknown, token: unknown) => extraTokenClaims(ctx, token, opts);
}

export async function extraTokenClaims(ctx: unknown, token: unknown, opts: ExtraTokenClaimsOptions = {}): Promise<Record<string, unknown>> {
  const t = token as TokenLike;
  const c = ctx as Ctx;
  const meta = iamMetadata(t.client ?? c?.oidc?.client);
  const user = typeof t.accountId === 'string' && t.accountId.length > 0;
  const out: Record<string, unknown> = { sub_type: user ? 'user' : 'workload' };
  if (meta.tenant_id) {
    if (user && opts.requireMember) await opts.requireMember(meta.tenant_id, t.accountId as string);
    out.tid = meta.tenant_id;
  } else if (user && t.grantId && opts.grantTenant) {
    const tid = await opts.grantTenant(t.grantId, t.accountId as string);
    if (tid) out.tid = tid;
  }
  if (typeof out.tid === 'string' && opts.roles) {
    out.roles = await opts.roles(out.tid, user ? { accountId: t.accountId } : { clientId: t.clientId });
  }
  if (t.grantId) out.grant_id = t.grantId;
  if (user) {
    const src = authSource(c);
    if (typeof src?.acr === 'string') out.acr = src.acr;
    if (Array.isArray(src?.amr) && src.amr.length) out.amr = [...src.amr];
    if (typeof src?.authTime === 'number') out.auth_time = src.authTime;
    const sid = t.sid ?? src?.sid;
    if (typeof sid === 'string') out.sid = sid;
  }
  return out;
}
