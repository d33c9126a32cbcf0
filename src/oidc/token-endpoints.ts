import { hash } from 'node:crypto';
import type { Middleware } from 'koa';
import { errors, type Provider } from 'oidc-provider';
import type { Knex } from '../db/knex.ts';
import type { Logger } from '../observability/logger.ts';
import {
  activeResponse,
  INACTIVE,
  type IntrospectionCache,
  type IntrospectionResponse,
  mayIntrospect,
  mayLearnAbout,
  type RequestMeta,
  type RevocationReason,
  type RevokedTokenType,
  recordStoredTokenRevocation,
  revocationDecision,
  revocationStatus,
  revokeAccessToken,
  revokeGrant,
} from '../tokens/index.ts';
import type { createAccessTokenVerifier } from './access-token-verifier.ts';
import { callerOf, type EngineClient, iamMetadata } from './client-metadata.ts';
import { STRUCTURED_TOKEN } from './structured-introspection.ts';

/**
 * Introspection and revocation of what the engine cannot handle, around the engine's own
 * endpoints (client authentication and every stored token stay the engine's):
 *
 * - a JWT access token reaches the engine's introspection endpoint, is handed over by the seam in
 *   structured-introspection.ts after the engine authenticated the client (at revocation: refused as
 *   `unsupported_token_type` at the same point), and is then answered here from its signature, the
 *   jti denylist and the revoked grants (PostgreSQL, shared by every instance);
 * - whenever the engine revokes a grant (refresh-token or code reuse, refresh-token revocation,
 *   logout) the grant is recorded in `revoked_grants` before the response leaves, so JWT access
 *   tokens of that grant die with it, and a `token.revoked` event is written;
 * - a refresh-token replay that lost the atomic consume race to a concurrent refresh is treated
 *   as reuse too (RFC 9700 §4.14.2: no grace window), revoking the grant.
 *
 * The engine runs composed on our Koa context, so after `await next()` this middleware sees
 * `ctx.oidc` (route, authenticated client, params, entities) and the rendered `ctx.body`.
 */

const STATE = {
  revokedGrants: Symbol('iam.revokedGrants'),
  introspected: Symbol('iam.introspected'),
  revoking: Symbol('iam.revoking'),
  // Introspection: set by the engine-chain step of structured-introspection.ts; revocation: by the
  // engine's unsupported_token_type error (below).
  structured: STRUCTURED_TOKEN,
};

interface OidcView {
  route?: string;
  client?: EngineClient;
  params?: Record<string, unknown>;
  entities: Record<string, unknown>;
  provider: Provider;
  session?: { authorizations?: Record<string, { grantId?: string }>; accountId?: string };
}

type KoaCtx = Parameters<Middleware>[0];

const oidcOf = (ctx: KoaCtx): OidcView | undefined => (ctx as unknown as { oidc?: OidcView }).oidc;
const stateOf = (ctx: KoaCtx) => ctx.state as Record<symbol, unknown>;

interface StoredTokenView {
  kind: string;
  jti: string;
  clientId: string;
  accountId?: string;
  grantId?: string;
  extra?: Record<string, unknown>;
}

interface RevokingMark {
  kind: string;
  tokenId: string;
  clientId: string;
  grantId?: string;
  tenantId?: string;
}

interface IntrospectedMark {
  tid?: string;
  subType: 'user' | 'workload';
}

export interface TokenEndpointOptions {
  db: Knex;
  verifier: ReturnType<typeof createAccessTokenVerifier>;
  cache: IntrospectionCache;
  /** Longest access token lifetime: how long a revoked grant's JWTs can still be around. */
  maxAccessTokenTtlS: number;
  logger: Logger;
}

export function createTokenEndpoints(opts: TokenEndpointOptions) {
  const { db, verifier, cache, logger } = opts;
  const log = logger.child({ component: 'oidc-tokens' });

  const meta = (ctx: KoaCtx, client: EngineClient | undefined): RequestMeta => ({
    actor: client ? { type: 'client', id: client.clientId } : { type: 'anonymous' },
    requestId: ctx.state.requestId as string | undefined,
    ip: ctx.ip,
    userAgent: ctx.get('user-agent') || undefined,
  });

  async function tenantOfClient(provider: Provider, clientId: string | undefined): Promise<string | undefined> {
    if (!clientId) return undefined;
    try {
      return iamMetadata(await provider.Client.find(clientId)).tenant_id ?? undefined;
    } catch {
      return undefined;
    }
  }

  // --- engine policies ------------------------------------------------------------------

  /**
   * `features.introspection.allowedPolicy` for stored tokens (refresh tokens, opaque access
   * tokens): the caller must hold `iam.tokens.introspect`, and a tenant's client only learns
   * about its own tenant's tokens. Disallowed reads as `active: false` (RFC 7662 §2.2).
   */
  async function introspectionAllowedPolicy(ctx: unknown, client: unknown, token: unknown): Promise<boolean> {
    const k = ctx as KoaCtx;
    const caller = callerOf(client as EngineClient);
    if (!mayIntrospect(caller)) return false;
    const t = token as StoredTokenView;
    const owner = t.clientId === caller.clientId ? client : await oidcOf(k)?.provider.Client.find(t.clientId);
    if (!owner) return false;
    const tid = typeof t.extra?.tid === 'string' ? t.extra.tid : (iamMetadata(owner).tenant_id ?? undefined);
    if (!mayLearnAbout(caller, tid)) return false;
    stateOf(k)[STATE.introspected] = { tid, subType: t.accountId ? 'user' : 'workload' } satisfies IntrospectedMark;
    return true;
  }

  /**
   * `features.revocation.allowedPolicy` for stored tokens: only the client the token was issued
   * to may revoke it; a public client asking about another's token gets 200 and nothing happens
   * (no token oracle), a confidential one an error — the engine's defaults, made explicit.
   */
  async function revocationAllowedPolicy(ctx: unknown, client: unknown, token: unknown): Promise<boolean> {
    const k = ctx as KoaCtx;
    const c = client as EngineClient;
    const t = token as StoredTokenView;
    const decision = revocationDecision(callerOf(c), { client_id: t.clientId });
    if (decision === 'ignore') return false;
    if (decision === 'refuse') throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
    stateOf(k)[STATE.revoking] = {
      kind: t.kind,
      // Opaque token values are bearer secrets: events and audit name them by their SHA-256.
      tokenId: hash('sha256', t.jti, 'base64url'),
      clientId: t.clientId,
      grantId: t.grantId,
      tenantId: typeof t.extra?.tid === 'string' ? t.extra.tid : (iamMetadata(c).tenant_id ?? undefined),
    } satisfies RevokingMark;
    return true;
  }

  // --- engine events ---------------------------------------------------------------------

  /** Registers the listeners on a freshly built engine (every rebuild). */
  function attach(provider: Provider): void {
    provider.on('grant.revoked', (ctx: unknown, grantId: string) => {
      const k = ctx as KoaCtx | undefined;
      if (!k?.state || typeof grantId !== 'string') return;
      const list = (stateOf(k)[STATE.revokedGrants] as string[] | undefined) ?? [];
      list.push(grantId);
      stateOf(k)[STATE.revokedGrants] = list;
    });
    // The engine refuses JWTs at these endpoints with unsupported_token_type after the client
    // authenticated; remember it (the rendered body may be JSON or, for Accept: text/html, a page).
    const structured = (ctx: unknown, err: { error?: string } | undefined) => {
      const k = ctx as KoaCtx | undefined;
      if (k?.state && err?.error === 'unsupported_token_type') stateOf(k)[STATE.structured] = true;
    };
    provider.on('introspection.error', structured);
    provider.on('revocation.error', structured);
  }

  // --- after the engine --------------------------------------------------------------------

  let verifiedUnder: object | undefined;

  async function introspectJwt(ctx: KoaCtx, oidc: OidcView, client: EngineClient): Promise<IntrospectionResponse> {
    const caller = callerOf(client);
    if (!mayIntrospect(caller)) return INACTIVE;
    const token = oidc.params?.token;
    if (typeof token !== 'string') return INACTIVE;
    // Answers cached by token string skip verification, so they only stand while the key set
    // they were verified against does (a removed or revoked key must fail at once).
    const generation = verifier.keySetGeneration();
    if (generation !== verifiedUnder) {
      verifiedUnder = generation;
      cache.clear();
    }
    const seen = cache.getByToken(token);
    if (seen) return seen.active && mayLearnAbout(caller, seen.tid as string | undefined) ? seen : INACTIVE;
    const verified = await verifier.verify(token);
    if (!verified.ok) return INACTIVE;
    const c = verified.claims;
    if (!mayLearnAbout(caller, c.tid)) return INACTIVE;
    const cached = cache.get(c.jti);
    if (cached) return cached;
    if (cache.knownRevoked(c.jti)) return INACTIVE;
    const status = await revocationStatus(db, { jti: c.jti, grantId: c.grant_id });
    if (status.token || status.grant) {
      cache.rememberRevoked(c.jti, c.exp, token);
      return INACTIVE;
    }
    const response = activeResponse(c);
    cache.set(c.jti, c.grant_id, response, c.exp, token);
    ctx.set('Cache-Control', 'no-store');
    return response;
  }

  async function revokeJwt(ctx: KoaCtx, oidc: OidcView, client: EngineClient): Promise<void> {
    const token = oidc.params?.token;
    // RFC 7009 §2.2: an invalid, expired or foreign-issuer token is answered with 200 all the same.
    const verified = typeof token === 'string' ? await verifier.verify(token) : undefined;
    ctx.status = 200;
    ctx.body = '';
    ctx.type = 'text/plain';
    if (!verified?.ok) return;
    const c = verified.claims;
    const decision = revocationDecision(callerOf(client), c);
    if (decision === 'ignore') return;
    if (decision === 'refuse') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'client is not authorized to revoke the presented token' };
      return;
    }
    cache.revokeJti(c.jti);
    await revokeAccessToken(db, {
      ...meta(ctx, client),
      jti: c.jti,
      clientId: c.client_id,
      grantId: c.grant_id,
      tenantId: c.tid,
      subject: c.sub,
      expiresAt: new Date(c.exp * 1000),
      reason: 'revoked_by_client',
    });
  }

  function grantClientId(oidc: OidcView, grantId: string): string | undefined {
    const e = oidc.entities;
    for (const k of ['RefreshToken', 'AuthorizationCode', 'Grant', 'AccessToken'] as const) {
      const t = e[k] as { grantId?: string; jti?: string; clientId?: string } | undefined;
      if (t && (t.grantId === grantId || (k === 'Grant' && t.jti === grantId)) && t.clientId) return t.clientId;
    }
    for (const [clientId, a] of Object.entries(oidc.session?.authorizations ?? {})) if (a?.grantId === grantId) return clientId;
    return oidc.client?.clientId;
  }

  function grantAccountId(oidc: OidcView): string | undefined {
    const e = oidc.entities;
    for (const k of ['Grant', 'RefreshToken', 'AuthorizationCode', 'Account'] as const) {
      const id = (e[k] as { accountId?: string } | undefined)?.accountId;
      if (typeof id === 'string') return id;
    }
    return oidc.session?.accountId;
  }

  function grantReason(oidc: OidcView): { reason: RevocationReason; tokenType: RevokedTokenType } {
    switch (oidc.route) {
      case 'token':
        return {
          reason: 'reuse_detected',
          tokenType: oidc.params?.grant_type === 'authorization_code' ? 'authorization_code' : 'refresh_token',
        };
      case 'revocation':
        return { reason: 'revoked_by_client', tokenType: 'refresh_token' };
      case 'end_session_confirm':
        return { reason: 'logout', tokenType: 'session' };
      default:
        return { reason: 'admin', tokenType: 'refresh_token' };
    }
  }

  async function persistGrantRevocations(ctx: KoaCtx, oidc: OidcView, grantIds: string[]): Promise<void> {
    const { reason, tokenType } = grantReason(oidc);
    const expiresAt = new Date(Date.now() + (opts.maxAccessTokenTtlS + 60) * 1000);
    for (const grantId of new Set(grantIds)) {
      cache.revokeGrant(grantId);
      const clientId = grantClientId(oidc, grantId);
      const recorded = await revokeGrant(db, {
        ...meta(ctx, oidc.client),
        grantId,
        clientId,
        tenantId: await tenantOfClient(oidc.provider, clientId),
        accountId: grantAccountId(oidc),
        expiresAt,
        reason,
        tokenType,
      });
      if (recorded) log.warn({ grant_id: grantId, client_id: clientId, reason, route: oidc.route }, 'grant revoked');
    }
  }

  /**
   * A refresh that failed with invalid_grant after finding an unconsumed refresh token, while the
   * token is consumed now, lost the consume race to a concurrent refresh with the same token:
   * someone else holds it too. Revoke the grant exactly as the engine does for a replay.
   */
  async function concurrentRefreshReuse(ctx: KoaCtx, oidc: OidcView): Promise<string | undefined> {
    const body = ctx.body as { error?: string } | undefined;
    if (ctx.status !== 400 || body?.error !== 'invalid_grant' || oidc.params?.grant_type !== 'refresh_token') return undefined;
    const found = oidc.entities.RefreshToken as { grantId?: string; consumed?: unknown } | undefined;
    if (!found?.grantId || found.consumed || oidc.entities.RotatedRefreshToken) return undefined;
    const value = oidc.params?.refresh_token;
    if (typeof value !== 'string') return undefined;
    const now = (await oidc.provider.RefreshToken.find(value, { ignoreExpiration: true })) as { consumed?: unknown } | undefined;
    if (!now?.consumed) return undefined;
    const p = oidc.provider;
    await Promise.all([
      p.AccessToken.revokeByGrantId(found.grantId),
      p.RefreshToken.revokeByGrantId(found.grantId),
      p.AuthorizationCode.revokeByGrantId(found.grantId),
      (p.Grant as unknown as { adapter: { destroy(id: string): Promise<void> } }).adapter.destroy(found.grantId),
    ]);
    return found.grantId;
  }

  async function afterEngine(ctx: KoaCtx, oidc: OidcView): Promise<void> {
    const state = stateOf(ctx);
    const body = ctx.body as Record<string, unknown> | undefined;
    const client = oidc.client;

    switch (oidc.route) {
      case 'introspection':
        if (!client) break;
        if (state[STATE.structured]) {
          ctx.status = 200;
          ctx.body = await introspectJwt(ctx, oidc, client);
        } else if (body?.active === true) {
          const mark = state[STATE.introspected] as IntrospectedMark | undefined;
          if (mark?.tid !== undefined && body.tid === undefined) body.tid = mark.tid;
          if (mark && body.sub_type === undefined) body.sub_type = mark.subType;
        }
        break;
      case 'revocation':
        if (!client) break;
        if (state[STATE.structured]) {
          await revokeJwt(ctx, oidc, client);
        } else if (ctx.status === 200) {
          const mark = state[STATE.revoking] as RevokingMark | undefined;
          if (mark && mark.kind !== 'RefreshToken') {
            // A stored (opaque) access token: the engine destroyed it; announce and audit it.
            await recordStoredTokenRevocation(db, {
              ...meta(ctx, client),
              tokenId: mark.tokenId,
              clientId: mark.clientId,
              grantId: mark.grantId,
              tenantId: mark.tenantId,
              tokenType: 'access_token',
              reason: 'revoked_by_client',
            });
          }
        }
        break;
      case 'token': {
        const raced = await concurrentRefreshReuse(ctx, oidc);
        if (raced) {
          const list = (state[STATE.revokedGrants] as string[] | undefined) ?? [];
          list.push(raced);
          state[STATE.revokedGrants] = list;
        }
        break;
      }
    }

    const revoked = state[STATE.revokedGrants] as string[] | undefined;
    if (revoked?.length) await persistGrantRevocations(ctx, oidc, revoked);
  }

  const middleware: Middleware = async (ctx, next) => {
    await next();
    const oidc = oidcOf(ctx);
    if (!oidc?.route) return;
    try {
      await afterEngine(ctx, oidc);
    } catch (err) {
      // Storage unavailable. A revocation the engine already applied to stored tokens must not be
      // reported complete while its record (which kills the JWTs) is missing: the client retries
      // (RFC 7009 §2.2.1), and a retry is harmless. Introspection answers the same way.
      log.error({ err, route: oidc.route }, 'token endpoint post-processing failed');
      ctx.status = 503;
      ctx.set('Retry-After', '1');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'try again shortly' };
    }
  };

  return { middleware, attach, introspectionAllowedPolicy, revocationAllowedPolicy };
}

export type TokenEndpoints = ReturnType<typeof createTokenEndpoints>;
