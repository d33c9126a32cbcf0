import { errors, type ResourceServer } from 'oidc-provider';
import { iamMetadata } from './client-metadata.ts';

/**
 * Resource indicators (RFC 8707): which APIs a client may get access tokens for, with which
 * scopes and in which format. There is no API registry yet, so the client record is the policy:
 *
 * - the resource must be one of the client's `allowed_resources` (exact string match);
 * - the scopes a token may carry are the client's `allowed_scopes`, minus the OpenID Connect
 *   scopes (they concern the ID token and userinfo, never an API), split by owner: scopes named
 *   `iam.*` belong to IAM's own API (the `apiAudience` resource) and only go there, every other
 *   scope only goes to the other resources;
 * - the format is the client's `access_token_format` (`jwt` — RFC 9068, ES256 — or `opaque`);
 * - the audience is the resource indicator itself.
 */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'offline_access', 'profile', 'email', 'address', 'phone']);
export const IAM_SCOPE_PREFIX = 'iam.';

export function scopesFor(allowedScopes: readonly string[], resource: string, apiAudience: string): string[] {
  const iamApi = resource === apiAudience;
  return allowedScopes.filter((s) => !OIDC_SCOPES.has(s) && s.startsWith(IAM_SCOPE_PREFIX) === iamApi);
}

type Ctx = { oidc?: { route?: string; params?: Record<string, unknown> } } | undefined;

export function createResourcePolicy(opts: { apiAudience: string }) {
  return {
    async getResourceServerInfo(_ctx: unknown, resource: string, client: unknown): Promise<ResourceServer> {
      const meta = iamMetadata(client);
      if (!meta.allowed_resources.includes(resource)) {
        throw new errors.InvalidTarget('the resource is not allowed for this client');
      }
      return {
        scope: scopesFor(meta.allowed_scopes, resource, opts.apiAudience).join(' '),
        audience: resource,
        accessTokenFormat: meta.access_token_format,
        jwt: { sign: { alg: 'ES256' } },
      };
    },

    /**
     * The client's only resource when it has exactly one; otherwise none at the authorization
     * endpoint (an ID token / userinfo-only request stays valid) — but client_credentials needs
     * an audience, so there a missing choice is an error rather than an audience-less token.
     */
    async defaultResource(ctx: unknown, client: unknown, oneOf?: string[]): Promise<string | string[] | undefined> {
      const allowed = iamMetadata(client).allowed_resources;
      if (oneOf) {
        // Token endpoint with several granted resources: pick the client's only one if granted.
        return allowed.length === 1 && oneOf.includes(allowed[0] as string) ? allowed[0] : oneOf;
      }
      if (allowed.length === 1) return allowed[0];
      const c = ctx as Ctx;
      if (c?.oidc?.route === 'token' && c.oidc.params?.grant_type === 'client_credentials') {
        throw new errors.InvalidTarget(
          allowed.length === 0
            ? 'the client has no allowed resource to issue an access token for'
            : 'the resource parameter is required: the client has several allowed resources',
        );
      }
      return undefined;
    },

    /** At the token endpoint a single granted resource is used without repeating `resource`. */
    async useGrantedResource(): Promise<boolean> {
      return true;
    },
  };
}
