import type { Middleware } from 'koa';
import { ENGINE_CSP } from './html.ts';

/** The path part of the issuer (`https://id.example.com/oidc` → `/oidc`; a root issuer → ''). */
export function issuerPath(issuer: string): string {
  return new URL(issuer).pathname.replace(/\/+$/, '');
}

export interface EngineMountOptions {
  issuer: string;
  /** The engine (and whatever wraps it), run on our context like koa-mount does. */
  engine: Middleware;
  /** JWKS from the key store, for `<issuer>/.well-known/jwks.json` when the issuer has a path. */
  jwks: () => unknown;
}

/**
 * Mounts the engine at the issuer's path. With a root issuer every request may reach the engine
 * (our routers answered first). With an issuer path `/p` only `/p/…` does, the engine seeing the
 * path without the prefix and `ctx.mountPath = '/p'` (so the URLs it builds carry the prefix),
 * plus the RFC 8414 location `/.well-known/oauth-authorization-server/p`. The JWKS under the
 * prefix comes from the key store, like the root one (pending and retired keys published too).
 *
 * Engine responses get a strict CSP up front; HTML the engine renders itself (`form_post`)
 * adds the hash of its one inline script to it, and our own pages replace it.
 */
export function mountEngine(opts: EngineMountOptions): Middleware {
  const prefix = issuerPath(opts.issuer);
  const rfc8414 = `/.well-known/oauth-authorization-server${prefix}`;

  return async (ctx, next) => {
    let sub: string | undefined;
    if (!prefix) sub = ctx.path;
    else if (ctx.path === rfc8414) sub = '/.well-known/oauth-authorization-server';
    else if (ctx.path.startsWith(`${prefix}/`)) sub = ctx.path.slice(prefix.length);
    if (sub === undefined) return next();

    if (prefix && sub === '/.well-known/jwks.json' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.type = 'application/jwk-set+json';
      ctx.body = opts.jwks();
      return;
    }

    ctx.set('Content-Security-Policy', ENGINE_CSP);
    if (!prefix) return opts.engine(ctx, next);

    const original = ctx.path;
    const previousMount = (ctx as { mountPath?: string }).mountPath;
    ctx.path = sub;
    (ctx as { mountPath?: string }).mountPath = prefix;
    try {
      await opts.engine(ctx, async () => {
        // Nothing in the engine answered: our 404 handling sees the original path.
        ctx.path = original;
        await next();
        ctx.path = sub;
      });
    } finally {
      ctx.path = original;
      (ctx as { mountPath?: string }).mountPath = previousMount;
    }
  };
}
