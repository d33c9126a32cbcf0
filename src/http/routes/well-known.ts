import Router from '@koa/router';
import type { KeyService } from '../../keys/index.ts';

/** JWKS from the key store: exactly the publishable public keys (pending, active, retired in grace). */
export function wellKnownRoutes(deps: { keys: KeyService }): Router {
  const router = new Router();
  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/jwk-set+json';
    ctx.body = deps.keys.jwks();
  });
  return router;
}
