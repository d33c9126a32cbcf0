import type Router from '@koa/router';
import { ASSETS, ASSETS_PATH } from '../views/assets.ts';

/**
 * The pages' static files under `<prefix>/assets/`: by content-hashed name, cacheable for a year
 * (`immutable`); by plain name, for five minutes. Nothing else is served from there.
 */
export function assetRoutes(router: Router, prefix: string): void {
  for (const asset of ASSETS) {
    for (const [name, cache] of [
      [asset.name, 'public, max-age=31536000, immutable'],
      [asset.plainName, 'public, max-age=300'],
    ] as const) {
      router.get(`${prefix}${ASSETS_PATH}/${name}`, (ctx) => {
        ctx.set('Cache-Control', cache);
        ctx.set('ETag', asset.etag);
        ctx.set('X-Content-Type-Options', 'nosniff');
        ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
        if (ctx.get('if-none-match') === asset.etag) {
          ctx.status = 304;
          return;
        }
        ctx.type = asset.type;
        ctx.body = asset.body;
      });
    }
  }
}
