import { z } from 'zod';
import { AppError, type InvalidParam } from '../errors/index.ts';

/**
 * Client registration rules (RFC 9700, DESIGN §6): exact absolute redirect URIs over https (http
 * only on a loopback host, RFC 8252), no implicit or password grant, `code` as the only response
 * type, and no client_secret_jwt — secrets are stored as hashes, so the server could not verify
 * an HMAC client assertion (and must never hand the engine a guessable HMAC key).
 */
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type TokenEndpointAuthMethod = (typeof AUTH_METHODS)[number];

export const ACCESS_TOKEN_FORMATS = ['jwt', 'opaque'] as const;
export type AccessTokenFormat = (typeof ACCESS_TOKEN_FORMATS)[number];

export const APPLICATION_TYPES = ['web', 'native'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

export const CLIENT_STATUSES = ['active', 'disabled'] as const;
export type ClientStatus = (typeof CLIENT_STATUSES)[number];

/** Same as the oauth_clients CHECK: unreserved URI characters, 3–128 long. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{3,128}$/;

/** Auth methods that authenticate with a client secret (the ones that get a secret row). */
export const usesSecret = (method: string): boolean => method === 'client_secret_basic' || method === 'client_secret_post';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
export const isLoopbackHost = (hostname: string) => LOOPBACK_HOSTS.has(hostname);

const MAX_URI_LENGTH = 2000;
// RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

function commonUriProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_URI_LENGTH) return `must be at most ${MAX_URI_LENGTH} characters`;
  // URIs are ASCII (RFC 3986). The URL parser would silently strip surrounding whitespace and
  // re-encode the rest; an exact-match registry must store exactly what clients send.
  if (/[^\x21-\x7E]/.test(value)) return 'must not contain whitespace, control or non-ASCII characters (percent-encode them)';
  if (value.includes('*')) return 'must not contain wildcards (redirect URIs are matched exactly)';
  if (value.includes('#')) return 'must not contain a fragment';
  return undefined;
}

/**
 * Problem with a redirect-style URI (redirect, post-logout, back-channel logout, jwks_uri), or
 * undefined when it is acceptable: absolute, no fragment, no wildcard, no credentials, https —
 * or http on a loopback host (native apps and local development, RFC 8252 §7.3).
 */
export function redirectUriProblem(value: string): string | undefined {
  const common = commonUriProblem(value);
  if (common) return common;
  const url = URL.parse(value);
  if (!url) return 'must be an absolute URI';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return url.hostname ? undefined : 'must name a host';
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname) ? undefined : 'http is only allowed on a loopback host (localhost, 127.0.0.1, [::1]); use https';
  }
  return `scheme ${url.protocol} is not allowed; use https (or http on a loopback host)`;
}

/** Problem with a resource indicator (RFC 8707 §2: an absolute URI without a fragment). */
export function resourceProblem(value: string): string | undefined {
  const common = commonUriProblem(value);
  if (common) return common;
  const url = URL.parse(value);
  if (!url) return 'must be an absolute URI';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:' || url.protocol === 'http:') return url.hostname ? undefined : 'must name a host';
  if (url.protocol === 'urn:') return undefined;
  return `scheme ${url.protocol} is not allowed; use https, http or urn`;
}

const refine =
  (check: (v: string) => string | undefined) =>
  (value: string, ctx: z.RefinementCtx): void => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  };

const dedupe = <T>(values: T[]): T[] => [...new Set(values)];

const redirectUri = z.string().superRefine(refine(redirectUriProblem));
const redirectUris = z.array(redirectUri).max(50).transform(dedupe);
const resources = z
  .array(z.string().superRefine(refine(resourceProblem)))
  .max(50)
  .transform(dedupe);
const scopes = z
  .array(z.string().regex(SCOPE_TOKEN, 'must be a scope token (printable ASCII without space, " or \\, at most 128 characters)'))
  .max(100)
  .transform(dedupe);

const grantType = z.string().superRefine((value, ctx) => {
  if (value === 'implicit' || value === 'password') {
    ctx.addIssue({ code: 'custom', message: `the ${value} grant is not allowed (RFC 9700)` });
  } else if (!(GRANT_TYPES as readonly string[]).includes(value)) {
    ctx.addIssue({ code: 'custom', message: `unsupported grant type "${value}"; allowed: ${GRANT_TYPES.join(', ')}` });
  }
});
const grantTypes = z
  .array(grantType)
  .min(1, 'at least one grant type is required')
  .transform((v) => dedupe(v) as GrantType[]);

const authMethod = z
  .string()
  .superRefine((value, ctx) => {
    if (value === 'client_secret_jwt') {
      ctx.addIssue({
        code: 'custom',
        message:
          'client_secret_jwt is not supported: client secrets are stored hashed, so HMAC client assertions cannot be verified; use private_key_jwt or client_secret_basic',
      });
    } else if (!(AUTH_METHODS as readonly string[]).includes(value)) {
      ctx.addIssue({ code: 'custom', message: `unsupported token endpoint auth method "${value}"; allowed: ${AUTH_METHODS.join(', ')}` });
    }
  })
  .transform((v) => v as TokenEndpointAuthMethod);

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
const jwks = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) })
  .strict()
  .superRefine((set, ctx) => {
    set.keys.forEach((key, i) => {
      if (key.kty === 'oct') ctx.addIssue({ code: 'custom', path: ['keys', i], message: 'symmetric keys are not allowed' });
      else if (PRIVATE_JWK_MEMBERS.some((m) => m in key)) {
        ctx.addIssue({ code: 'custom', path: ['keys', i], message: 'must be a public key (private members present)' });
      }
    });
  });
export type ClientJwks = z.infer<typeof jwks>;

const name = z.string().trim().min(1, 'must not be empty').max(200);
const description = z.string().trim().max(1000).nullable();

/** Input of createClient. Unknown members are rejected. */
export const createClientInput = z
  .object({
    /** Generated (`cl_` + 16 random characters) when absent. */
    client_id: z.string().regex(CLIENT_ID_PATTERN, 'must be 3–128 characters from A-Z a-z 0-9 . _ ~ -').optional(),
    /** Owning tenant; null or absent = platform client. */
    tenant_id: z.uuid().nullable().optional(),
    name,
    description: description.optional(),
    first_party: z.boolean().default(false),
    application_type: z.enum(APPLICATION_TYPES).default('web'),
    token_endpoint_auth_method: authMethod.default('client_secret_basic'),
    grant_types: grantTypes.default(['authorization_code', 'refresh_token']),
    redirect_uris: redirectUris.default([]),
    post_logout_redirect_uris: redirectUris.default([]),
    backchannel_logout_uri: redirectUri.nullable().optional(),
    allowed_resources: resources.default([]),
    /** Defaults to ['openid'] for authorization_code clients, [] otherwise. */
    allowed_scopes: scopes.optional(),
    access_token_format: z.enum(ACCESS_TOKEN_FORMATS).default('jwt'),
    require_dpop: z.boolean().default(false),
    jwks_uri: redirectUri.nullable().optional(),
    jwks: jwks.nullable().optional(),
  })
  .strict();
export type CreateClientInput = z.input<typeof createClientInput>;

/** Input of updateClient: every member optional; null clears a nullable one. */
export const updateClientInput = z
  .object({
    name: name.optional(),
    description: description.optional(),
    first_party: z.boolean().optional(),
    status: z.enum(CLIENT_STATUSES).optional(),
    application_type: z.enum(APPLICATION_TYPES).optional(),
    token_endpoint_auth_method: authMethod.optional(),
    grant_types: grantTypes.optional(),
    redirect_uris: redirectUris.optional(),
    post_logout_redirect_uris: redirectUris.optional(),
    backchannel_logout_uri: redirectUri.nullable().optional(),
    allowed_resources: resources.optional(),
    allowed_scopes: scopes.optional(),
    access_token_format: z.enum(ACCESS_TOKEN_FORMATS).optional(),
    require_dpop: z.boolean().optional(),
    jwks_uri: redirectUri.nullable().optional(),
    jwks: jwks.nullable().optional(),
    /** Optimistic concurrency: the `version` the caller read; a concurrent change makes the update fail. */
    expected_version: z
      .string()
      .regex(/^\d{1,20}$/, 'must be a version returned by a previous read')
      .optional(),
  })
  .strict();
export type UpdateClientInput = z.input<typeof updateClientInput>;

export const rotateSecretInput = z
  .object({
    /** How long previous secrets stay valid; 0 revokes them at once. At most 30 days. */
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .default(86_400),
  })
  .strict();
export type RotateSecretInput = z.input<typeof rotateSecretInput>;

/** Every client property the rules look at, fully resolved (stored row or merged update). */
export interface ClientSpec {
  name: string;
  description: string | null;
  first_party: boolean;
  status: ClientStatus;
  application_type: ApplicationType;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  grant_types: GrantType[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  backchannel_logout_uri: string | null;
  allowed_resources: string[];
  allowed_scopes: string[];
  access_token_format: AccessTokenFormat;
  require_dpop: boolean;
  jwks_uri: string | null;
  jwks: ClientJwks | null;
}

/** Rules across members; returns every violation (empty when the client is consistent). */
export function specProblems(spec: ClientSpec): InvalidParam[] {
  const out: InvalidParam[] = [];
  const add = (name: string, reason: string) => out.push({ name, reason });
  const grants = new Set<string>(spec.grant_types);
  const code = grants.has('authorization_code');

  if (code && spec.redirect_uris.length === 0) add('redirect_uris', 'authorization_code clients need at least one redirect URI');
  if (!code) {
    if (spec.redirect_uris.length) add('redirect_uris', 'redirect URIs apply only to authorization_code clients (pass an empty list)');
    if (spec.post_logout_redirect_uris.length)
      add('post_logout_redirect_uris', 'post-logout redirect URIs apply only to authorization_code clients');
    if (spec.backchannel_logout_uri) add('backchannel_logout_uri', 'back-channel logout applies only to authorization_code clients');
    if (grants.has('refresh_token')) add('grant_types', 'refresh_token needs authorization_code');
  }
  if (grants.has('client_credentials') && spec.token_endpoint_auth_method === 'none') {
    add('grant_types', 'public clients (token_endpoint_auth_method none) cannot use client_credentials');
  }
  if (spec.token_endpoint_auth_method === 'private_key_jwt' && !spec.jwks && !spec.jwks_uri) {
    add('jwks_uri', 'private_key_jwt needs jwks_uri or jwks');
  }
  if (spec.jwks && spec.jwks_uri) add('jwks', 'give jwks or jwks_uri, not both');
  if (spec.application_type === 'native') {
    for (const [field, uris] of [
      ['redirect_uris', spec.redirect_uris],
      ['post_logout_redirect_uris', spec.post_logout_redirect_uris],
    ] as const) {
      for (const uri of uris) {
        const url = URL.parse(uri);
        if (url?.protocol === 'https:' && isLoopbackHost(url.hostname)) {
          add(field, `native clients must use http for loopback redirect URIs (${uri})`);
        }
      }
    }
  }
  return out;
}

export function validationError(params: InvalidParam[], prefix = 'invalid client'): AppError {
  return new AppError('validation_failed', {
    detail: `${prefix}: ${params.map((p) => `${p.name}: ${p.reason}`).join('; ')}`,
    invalidParams: params,
  });
}

/** Parses with a zod schema; failures become one validation_failed AppError naming every problem. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix?: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw validationError(
    result.error.issues.map((i) => ({ name: i.path.map(String).join('.') || '(input)', reason: i.message })),
    prefix,
  );
}
