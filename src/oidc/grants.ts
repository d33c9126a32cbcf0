import type { Grant } from 'oidc-provider';
import { iamMetadata } from './client-metadata.ts';

/** Claims every ID token may carry without a separate grant (the engine ignores them too). */
const IMPLIED_CLAIMS = new Set(['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss']);

/** What an authorization request asks to be granted. */
export interface GrantRequest {
  /** OpenID Connect scopes (openid, email, profile, offline_access …). */
  oidcScopes: readonly string[];
  /** Individually requested claims (claims parameter; off today). */
  claims: readonly string[];
  /** Resource indicator → the scopes requested for it. */
  resourceScopes: Readonly<Record<string, readonly string[]>>;
}

/**
 * Adds to `grant` whatever `request` asks for and it does not hold yet; true when it changed
 * (so the caller saves only then — a first-party client signing in again costs no write).
 */
export function extendGrant(grant: Grant, request: GrantRequest): boolean {
  let changed = false;
  const haveScopes = new Set((grant.getOIDCScopeEncountered() ?? '').split(' ').filter(Boolean));
  const scopes = request.oidcScopes.filter((s) => !haveScopes.has(s));
  if (scopes.length) {
    grant.addOIDCScope(scopes.join(' '));
    changed = true;
  }
  const haveClaims = new Set(grant.getOIDCClaimsEncountered() ?? []);
  const claims = request.claims.filter((c) => !haveClaims.has(c) && !IMPLIED_CLAIMS.has(c));
  if (claims.length) {
    grant.addOIDCClaims(claims);
    changed = true;
  }
  for (const [resource, wanted] of Object.entries(request.resourceScopes)) {
    const have = new Set((grant.getResourceScopeEncountered(resource) ?? '').split(' ').filter(Boolean));
    const missing = wanted.filter((s) => !have.has(s));
    if (missing.length) {
      grant.addResourceScope(resource, missing.join(' '));
      changed = true;
    }
  }
  return changed;
}

interface GrantCtx {
  oidc: {
    client?: { clientId: string };
    session?: { accountId?: string; grantIdFor(clientId: string): string | undefined };
    account?: { accountId: string };
    result?: { consent?: { grantId?: string } };
    provider: { Grant: { find(id: string): Promise<Grant | undefined>; new (init: { accountId: string; clientId: string }): Grant } };
    requestParamOIDCScopes?: Set<string>;
    requestParamClaims?: Set<string>;
    requestParamScopes?: Set<string>;
    resourceServers?: Record<string, { scopes: Set<string> }>;
  };
}

/** The request as the engine resolved it (scopes it supports and the client may ask for, resources checked). */
export function grantRequestOf(ctx: GrantCtx): GrantRequest {
  const { oidc } = ctx;
  const requested = oidc.requestParamScopes ?? new Set<string>();
  const resourceScopes: Record<string, string[]> = {};
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    resourceScopes[indicator] = [...requested].filter((s) => server.scopes.has(s));
  }
  return { oidcScopes: [...(oidc.requestParamOIDCScopes ?? [])], claims: [...(oidc.requestParamClaims ?? [])], resourceScopes };
}

/**
 * The engine's `loadExistingGrant`: the grant of a consent just given, else the session's grant
 * for the client. First-party clients (`first_party` metadata) never see a consent page: their
 * grant is created, or extended to cover what this request asks for, here.
 */
export async function loadExistingGrant(ctx: unknown): Promise<Grant | undefined> {
  const c = ctx as GrantCtx;
  const { oidc } = c;
  const clientId = oidc.client?.clientId ?? '';
  const accountId = oidc.account?.accountId ?? oidc.session?.accountId;
  const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  // A grant of another account or client is never reused (the engine would refuse it outright).
  if (grant && (grant.accountId !== accountId || grant.clientId !== clientId)) grant = undefined;
  if (!iamMetadata(oidc.client).first_party || !accountId || !clientId) return grant;

  grant ??= new oidc.provider.Grant({ accountId, clientId });
  if (extendGrant(grant, grantRequestOf(c)) || !grant.jti) await grant.save();
  return grant;
}
