import type { Middleware } from 'koa';
import compose from 'koa-compose';
import Provider, { type Adapter, type ClientMetadata, type Configuration, type FindAccount } from 'oidc-provider';
import { isLoopbackHost } from '../clients/schema.ts';
import type { Config } from '../config/index.ts';
import type { Signer } from '../keys/index.ts';
import type { Logger } from '../observability/logger.ts';
import { ACR_VALUES } from './acr.ts';
import { createExtraTokenClaims } from './claims.ts';
import { EXTRA_CLIENT_METADATA, validateExtraClientMetadata } from './client-metadata.ts';
import { EngineSigningKey } from './external-key.ts';
import { loadExistingGrant } from './grants.ts';
import { buildInteractionPolicy } from './interaction-policy.ts';
import { issuerPath } from './mount.ts';
import { createEnginePages } from './pages.ts';
import { createResourcePolicy } from './resources.ts';
import type { TokenRoles } from './role-claims.ts';
import { RequestLifetimes } from './session-lifetimes.ts';
import { installStructuredIntrospectionSeam } from './structured-introspection.ts';
import { DEFAULT_SIGN_IN_POLICY, type TenantSignInPolicy } from './tenant-policy.ts';
import { SELECT_TENANT_PROMPT, TENANT_PARAM, type TenantSelection } from './tenant-selection.ts';
import type { TokenEndpoints } from './token-endpoints.ts';
import { type ClaimedWrites, resumeUnitOfWork } from './unit-of-work.ts';

/** Engine routes (relative to the issuer). Discovery advertises them; RPs never hard-code them. */
export const OIDC_ROUTES = {
  authorization: '/authorize',
  token: '/token',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  pushed_authorization_request: '/par',
  introspection: '/introspect',
  revocation: '/revoke',
  end_session: '/logout',
  registration: '/register',
  device_authorization: '/device/auth',
  code_verification: '/device',
  backchannel_authentication: '/backchannel',
  challenge: '/challenge',
  credential: '/credential',
} as const;

/** Scopes the engine knows itself (OpenID Connect); API scopes come from resource indicators. */
export const ENGINE_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;

/** TTLs of the artefacts of features we keep disabled; explicit so nothing silently defaults. */
const DISABLED_FEATURE_TTL_S = 600;

export interface ProviderOptions {
  issuer: string;
  /** Active signers; the first one of an algorithm is the one the engine signs with. */
  signers: Signer[];
  /** Cookie signing keys (first signs, all verify); the same list as the parent Koa app's. */
  cookieKeys: string[];
  /** 32 bytes shared by every instance (derived from the KEK). */
  dpopNonceSecret: Buffer;
  ttl: Config['oidc'];
  /** RFC 8707 resource of IAM's own API (`<issuer>/v1`). */
  apiAudience: string;
  findAccount: FindAccount;
  /** Sign-in rules of a client's tenant (MFA policy for step-up); default: the platform defaults. */
  tenantPolicy?: (tenantId: string | null) => Promise<TenantSignInPolicy>;
  /** Tenant of each grant (`tenant` parameter, tenant page, `tid`); absent = the client's tenant only. */
  tenantSelection?: TenantSelection;
  tokenEndpoints: Pick<TokenEndpoints, 'attach' | 'introspectionAllowedPolicy' | 'revocationAllowedPolicy'>;
  /** Storage per model; absent = the engine's in-memory adapter (unit tests only). */
  adapter?: (name: string) => Adapter;
  /** Static clients (tests without the clients table). */
  clients?: ClientMetadata[];
  /** Runs on every freshly built engine (e.g. the hashed client-secret check). */
  configure?: (provider: Provider) => void;
  /** Trust X-Forwarded-* (`server.trust_proxy`): must match the parent Koa app's `proxy`. */
  trustProxy?: boolean;
  /**
   * Let the engine's outgoing requests (back-channel logout) reach a loopback host named in the URL
   * (`localhost`, `127.0.0.1`, `[::1]`), which its SSRF protection otherwise refuses. Outside
   * production only: clients may register http endpoints only on loopback hosts, for development.
   */
  loopbackFetch?: boolean;
  /**
   * IAM's writes of a completed sign-in, claimed by the resume request so they join its one
   * transaction with the engine's Session and Grant (src/oidc/unit-of-work.ts).
   */
  claimSignInWrites?: (interactionUid: string) => Promise<ClaimedWrites | undefined>;
  /** The `roles` claim of access tokens with `tid` (src/oidc/role-claims.ts); absent: no `roles`. */
  tokenRoles?: TokenRoles;
  logger: Logger;
}

/** Refresh tokens expire after the idle TTL, but never later than the absolute TTL after the chain began. */
export function refreshTokenTtl(t: Pick<Config['oidc'], 'refresh_token_idle_ttl_s' | 'refresh_token_absolute_ttl_s'>) {
  return (_ctx: unknown, token: { iiat?: number; iat?: number }): number => {
    const now = Math.floor(Date.now() / 1000);
    const started = token.iiat ?? token.iat ?? now;
    const left = started + t.refresh_token_absolute_ttl_s - now;
    return Math.max(1, Math.min(t.refresh_token_idle_ttl_s, left));
  };
}

/** The engine's fetch without its special-use-address guard for URLs that name a loopback host. */
const loopbackFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const url = new URL(input instanceof Request ? input.url : input);
  if (!isLoopbackHost(url.hostname) || !init) return globalThis.fetch(input, init);
  const { dispatcher: _guard, ...rest } = init as RequestInit & { dispatcher?: unknown };
  return globalThis.fetch(input, rest);
};

/**
 * The oidc-provider engine as IAM runs it. Every behaviour that matters is set explicitly, not
 * left to a default that could change under us (DESIGN §6, §9; security checklist (a)):
 *
 * - authorization code only (no implicit, hybrid or password), PKCE S256 required for every
 *   client, `redirect_uri` always required and matched exactly, `iss` in every authorization
 *   response (RFC 9207), PAR available, no development login (`devInteractions` off);
 * - refresh tokens only for clients allowed the grant that asked for `offline_access`, rotated on
 *   every use; a replayed one revokes the whole grant; idle TTL per token, absolute TTL per chain;
 * - access tokens audience-restricted through resource indicators, JWT (RFC 9068, ES256) or
 *   opaque per client, sender-constrained with DPoP when the client asks;
 * - introspection and revocation for every token (JWT access tokens through src/oidc/token-endpoints.ts);
 * - RP-initiated and back-channel logout; our own pages for errors and logout;
 * - sign-in through our interactions (interactions/): the login prompt also asks again when the
 *   session's account is gone or a stronger `acr` is needed (step-up, src/oidc/interaction-policy.ts);
 *   `acr`, `amr` and `auth_time` are in every ID token (mapped to `openid`); first-party clients
 *   get their grant without a consent page (src/oidc/grants.ts).
 */
export function buildProvider(opts: ProviderOptions): Provider {
  const t = opts.ttl;
  const resources = createResourcePolicy({ apiAudience: opts.apiAudience });
  const prefix = issuerPath(opts.issuer);
  // `__Host-` cookies (Secure, Path=/, no Domain) wherever the issuer is https; plain http is development only.
  const cookiePrefix = opts.issuer.startsWith('https://') ? '__Host-' : '';
  const pages = createEnginePages({ assetsBase: prefix });
  const tenantPolicy = opts.tenantPolicy ?? (async () => ({ ...DEFAULT_SIGN_IN_POLICY }));
  // Idle and absolute session lifetimes (ADR-0019): the login checks record the tenant's, the save applies them.
  const lifetimes = new RequestLifetimes({ idleSeconds: t.session_idle_ttl_s, absoluteSeconds: t.session_ttl_s });
  const selection = opts.tenantSelection;

  const configuration: Configuration = {
    ...(opts.adapter ? { adapter: opts.adapter } : {}),
    ...(opts.clients ? { clients: opts.clients } : {}),
    // The typings predate ExternalSigningKey entries in jwks.keys.
    jwks: { keys: opts.signers.map((s) => new EngineSigningKey(s)) } as unknown as Configuration['jwks'],
    cookies: {
      keys: opts.cookieKeys,
      names: {
        session: `${cookiePrefix}iam_session`,
        interaction: `${cookiePrefix}iam_interaction`,
        resume: `${cookiePrefix}iam_interaction_resume`,
      },
      long: { httpOnly: true, sameSite: 'lax', path: '/' },
      short: { httpOnly: true, sameSite: 'lax', path: '/' },
    },
    routes: { ...OIDC_ROUTES },
    responseTypes: ['code'],
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    acceptQueryParamAccessTokens: false,
    enableHttpPostMethods: false,
    clockTolerance: 5,
    subjectTypes: ['public'],
    scopes: [...ENGINE_SCOPES],
    acrValues: [...ACR_VALUES],
    claims: {
      // acr/amr/auth_time: how and when the user signed in, in every ID token (and userinfo).
      openid: ['sub', 'acr', 'amr', 'auth_time', ...(selection ? ['tid'] : [])],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'locale', 'picture', 'updated_at'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
    },
    conformIdTokenClaims: true,
    // client_secret_jwt is impossible with hashed secrets (there is no HMAC key to verify with).
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      // Every logout token names the session (`sid`) as well as the subject: an RP can end just that session.
      backchannel_logout_session_required: true,
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      userinfoSigningAlgValues: ['ES256'],
      introspectionSigningAlgValues: ['ES256'],
      authorizationSigningAlgValues: ['ES256'],
      clientAuthSigningAlgValues: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
      requestObjectSigningAlgValues: ['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
      dPoPSigningAlgValues: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
    },
    extraClientMetadata: { properties: [...EXTRA_CLIENT_METADATA], validator: validateExtraClientMetadata },
    extraParams: selection ? { [TENANT_PARAM]: selection.validateParam } : [],
    findAccount: selection ? selection.findAccount(opts.findAccount) : opts.findAccount,
    ...(opts.loopbackFetch ? { fetch: loopbackFetch } : {}),
    // Only public clients may call the token-family endpoints from a browser, and only from the
    // origins of their registered redirect URIs; confidential clients are servers (no CORS).
    clientBasedCORS(ctx, origin, client) {
      if (origin === 'null' || client.clientAuthMethod !== 'none') return false;
      void ctx;
      return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
    },
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: true,
    expiresWithSession: async (_ctx, code) => !code.scopes.has('offline_access'),
    // Revoking one access token leaves its grant; every other revocation (refresh token, reuse,
    // logout) takes the whole grant — and with it every token, JWTs included (revoked_grants).
    revokeGrantPolicy: (ctx) => !(ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken),
    loadExistingGrant: (selection
      ? selection.loadExistingGrant(loadExistingGrant as never)
      : loadExistingGrant) as Configuration['loadExistingGrant'],
    extraTokenClaims: createExtraTokenClaims({
      grantTenant: selection?.tokenTenant,
      requireMember: selection?.requireMember,
      roles: opts.tokenRoles,
    }) as Configuration['extraTokenClaims'],
    formats: { bitsOfOpaqueRandomness: 256, customizers: { jwt: undefined } },
    interactions: {
      policy: withTenantPrompt(buildInteractionPolicy({ tenantPolicy, lifetimes }), selection),
      // The tenant page is the select_tenant prompt's own entry (interactions/steps/tenant.ts).
      url: async (_ctx, interaction) =>
        `${prefix}/interaction/${interaction.uid}${interaction.prompt.name === SELECT_TENANT_PROMPT ? '/tenant' : ''}`,
    },
    renderError: pages.renderError as Configuration['renderError'],
    ttl: {
      AccessToken: () => t.access_token_ttl_s,
      ClientCredentials: () => t.client_credentials_ttl_s,
      AuthorizationCode: t.authorization_code_ttl_s,
      IdToken: t.id_token_ttl_s,
      RefreshToken: refreshTokenTtl(t) as NonNullable<Configuration['ttl']>['RefreshToken'],
      Grant: t.grant_ttl_s,
      // Each use slides the session by the idle lifetime, never past its absolute end.
      Session: ((ctx: object | undefined, session: { loginTs?: number; iat?: number }) => lifetimes.ttl(ctx, session)) as NonNullable<
        Configuration['ttl']
      >['Session'],
      Interaction: t.interaction_ttl_s,
      DeviceCode: DISABLED_FEATURE_TTL_S,
      BackchannelAuthenticationRequest: DISABLED_FEATURE_TTL_S,
      PreAuthorizedCode: DISABLED_FEATURE_TTL_S,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: opts.tokenEndpoints.introspectionAllowedPolicy as never },
      revocation: { enabled: true, allowedPolicy: opts.tokenEndpoints.revocationAllowedPolicy as never },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: resources.getResourceServerInfo as never,
        defaultResource: resources.defaultResource as never,
        useGrantedResource: resources.useGrantedResource,
      },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
      dPoP: { enabled: true, nonceSecret: opts.dpopNonceSecret, requireNonce: () => false, allowReplay: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource as never,
        postLogoutSuccessSource: pages.postLogoutSuccessSource as never,
      },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      // Off, and explicitly so.
      claimsParameter: { enabled: false },
      deviceFlow: { enabled: false },
      ciba: { enabled: false },
      encryption: { enabled: false },
      fapi: { enabled: false },
      jwtIntrospection: { enabled: false },
      jwtResponseModes: { enabled: false },
      jwtUserinfo: { enabled: false },
      mTLS: { enabled: false },
      registration: { enabled: false },
      registrationManagement: { enabled: false },
      requestObjects: { enabled: false },
      richAuthorizationRequests: { enabled: false },
      rpMetadataChoices: { enabled: false },
      webMessageResponseMode: { enabled: false },
      attestClientAuth: { enabled: false },
      clientIdMetadataDocument: { enabled: false },
      openid4vci: { enabled: false },
    } as Configuration['features'],
  };
  installStructuredIntrospectionSeam();
  const provider = new Provider(opts.issuer, configuration);
  // The engine builds some contexts of its own (cookies, interaction lookups): same trust as the parent app.
  provider.proxy = opts.trustProxy ?? true;
  provider.on('server_error', (_ctx, err) => opts.logger.error({ err }, 'oidc server_error'));
  // The resume request's PostgreSQL writes (Session, Grant, IAM's sign-in rows) in one transaction.
  provider.use(
    resumeUnitOfWork({
      authorizationRoute: OIDC_ROUTES.authorization,
      claimSignInWrites: opts.claimSignInWrites,
      renderFailure: (ctx) => pages.renderError(ctx, { error: 'temporarily_unavailable' }),
      logger: opts.logger,
    }),
  );
  opts.tokenEndpoints.attach(provider);
  opts.configure?.(provider);
  return provider;
}

/** The select_tenant prompt between login and consent (after login: the user is known). */
function withTenantPrompt(policy: ReturnType<typeof buildInteractionPolicy>, selection: TenantSelection | undefined) {
  if (!selection) return policy;
  const consent = policy.findIndex((p) => p.name === 'consent');
  policy.add(selection.prompt(), consent === -1 ? policy.length : consent);
  return policy;
}

/**
 * Keeps the current engine behind a stable middleware so a key rotation can swap in a
 * freshly built engine without a restart. The engine runs on the parent's context
 * (as koa-mount does), so the parent app must share its cookie keys and proxy setting.
 */
export class ProviderHolder {
  #provider: Provider;
  #composed: Middleware;
  readonly #build: () => Provider;

  constructor(build: () => Provider) {
    this.#build = build;
    this.#provider = build();
    this.#composed = compose(this.#provider.middleware as Middleware[]);
  }

  get current(): Provider {
    return this.#provider;
  }

  rebuild(): void {
    const next = this.#build();
    this.#composed = compose(next.middleware as Middleware[]);
    this.#provider = next;
  }

  middleware(): Middleware {
    return (ctx, next) => this.#composed(ctx, next);
  }
}
