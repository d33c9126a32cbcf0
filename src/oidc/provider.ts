import type { Middleware } from 'koa';
import compose from 'koa-compose';
import Provider, { type Configuration } from 'oidc-provider';
import type { Signer } from '../keys/index.ts';
import type { Logger } from '../observability/logger.ts';
import { EngineSigningKey } from './external-key.ts';

export interface ProviderOptions {
  issuer: string;
  /** Active signers; the first one of an algorithm is the one the engine signs with. */
  signers: Signer[];
  cookieKeys: string[];
  logger: Logger;
}

/**
 * The oidc-provider engine with the safe baseline every later issue builds on:
 * no development login, PKCE required for every client, no implicit or password grants.
 */
export function buildProvider(opts: ProviderOptions): Provider {
  const configuration: Configuration = {
    // The typings predate ExternalSigningKey entries in jwks.keys.
    jwks: { keys: opts.signers.map((s) => new EngineSigningKey(s)) } as unknown as Configuration['jwks'],
    cookies: { keys: opts.cookieKeys },
    features: {
      devInteractions: { enabled: false },
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    enabledJWA: { idTokenSigningAlgValues: ['ES256', 'EdDSA'] },
    // JWKS is served by our own route from the key store (it publishes pending and retired keys too).
    routes: { jwks: '/.well-known/jwks.json' },
    renderError(ctx, out) {
      ctx.type = 'html';
      const safe = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!doctype html><title>Sign-in error</title><h1>${safe(out.error)}</h1><p>${safe(out.error_description)}</p>`;
    },
  };
  const provider = new Provider(opts.issuer, configuration);
  provider.proxy = true;
  provider.on('server_error', (_ctx, err) => opts.logger.error({ err }, 'oidc server_error'));
  return provider;
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
