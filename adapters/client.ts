import { createHmac, randomBytes } from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ClientCache, ClientRecord } from '../src/clients/index.ts';
import type { Logger } from '../src/observability/logger.ts';

/**
 * Client metadata the engine must accept verbatim (provider config:
 * `extraClientMetadata: { properties: [...CLIENT_EXTRA_METADATA] }`). On an engine Client they
 * keep these names: `ctx.oidc.client.allowed_resources`, `.first_party`, …
 */
export const CLIENT_EXTRA_METADATA = ['first_party', 'allowed_resources', 'allowed_scopes', 'access_token_format', 'tenant_id'] as const;

export interface ClientAdapterOptions {
  /**
   * The engine's supported scopes (its `scopes` configuration plus the scopes of its `claims`).
   * The engine refuses a client whose `scope` metadata names a scope it does not support
   * (invalid_client_metadata: the client could do nothing), so `scope` lists only the allowed
   * scopes found here, and the engine enforces those; resource-server scopes are enforced from
   * `allowed_scopes` by getResourceServerInfo. Default: `openid` and `offline_access`, the two
   * every engine supports.
   */
  engineScopes?: Iterable<string>;
  logger?: Logger;
}

const readOnly = (what: string) => async (): Promise<never> => {
  throw new Error(`Client adapter is read-only (${what}): clients change through the clients API and CLI only`);
};

/**
 * oidc-provider Adapter for the `Client` model, reading through the client lookup cache. It
 * answers `find` with engine client metadata and nothing else: disabled clients, clients of a
 * suspended or deleted tenant and unknown ids are "not found"; every write throws.
 *
 * `client_secret` is a placeholder, never a secret: the real check is the hashed comparison in
 * src/oidc/client-secret.ts. The placeholder is per process and unguessable (HMAC of the
 * client_id under a random key), so should any engine path ever use client_secret as an HMAC or
 * encryption key (client_secret_jwt, HS-signed request objects — both refused by our
 * configuration) verification fails closed instead of accepting a forgeable value.
 */
export function createClientAdapter(cache: ClientCache, opts: ClientAdapterOptions = {}): Adapter {
  const placeholderKey = randomBytes(32);
  const engineScopes = new Set(opts.engineScopes ?? ['openid', 'offline_access']);
  const built = new WeakMap<ClientRecord, string | null>();

  const placeholder = (clientId: string) =>
    `hashed:${clientId}:${createHmac('sha256', placeholderKey).update(clientId).digest('base64url')}`;

  const toEngine = (c: ClientRecord): AdapterPayload | null => {
    if (c.token_endpoint_auth_method === ('client_secret_jwt' as string)) {
      opts.logger?.warn(
        { client_id: c.client_id },
        'client uses client_secret_jwt, which hashed secrets cannot support; treated as unknown',
      );
      return null;
    }
    const scopes = c.allowed_scopes.filter((s) => engineScopes.has(s));
    const metadata: Record<string, unknown> = {
      client_id: c.client_id,
      client_name: c.name,
      application_type: c.application_type,
      grant_types: [...c.grant_types],
      response_types: [...c.response_types],
      redirect_uris: [...c.redirect_uris],
      post_logout_redirect_uris: [...c.post_logout_redirect_uris],
      token_endpoint_auth_method: c.token_endpoint_auth_method,
      id_token_signed_response_alg: 'ES256',
      first_party: c.first_party,
      allowed_resources: [...c.allowed_resources],
      allowed_scopes: [...c.allowed_scopes],
      access_token_format: c.access_token_format,
      tenant_id: c.tenant_id,
    };
    if (c.token_endpoint_auth_method === 'client_secret_basic' || c.token_endpoint_auth_method === 'client_secret_post') {
      metadata.client_secret = placeholder(c.client_id);
    }
    if (scopes.length) metadata.scope = scopes.join(' ');
    if (c.backchannel_logout_uri) metadata.backchannel_logout_uri = c.backchannel_logout_uri;
    if (c.require_dpop) metadata.dpop_bound_access_tokens = true;
    if (c.jwks_uri) metadata.jwks_uri = c.jwks_uri;
    if (c.jwks) metadata.jwks = c.jwks;
    return metadata as AdapterPayload;
  };

  return {
    async find(id: string) {
      const found = await cache.get(id);
      if (!found?.usable) return undefined;
      let payload = built.get(found.client);
      if (payload === undefined) {
        const engine = toEngine(found.client);
        payload = engine ? JSON.stringify(engine) : null;
        built.set(found.client, payload);
      }
      // The engine may normalise what it is given in place, so it gets a fresh copy each time;
      // parsing a cached JSON string is several times cheaper than structuredClone.
      return payload ? (JSON.parse(payload) as AdapterPayload) : undefined;
    },
    upsert: readOnly('upsert'),
    consume: readOnly('consume'),
    destroy: readOnly('destroy'),
    revokeByGrantId: readOnly('revokeByGrantId'),
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
  };
}
