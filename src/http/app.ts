import type Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import compose from 'koa-compose';
import { AppError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { observeMiddleware } from './middleware/observe.ts';
import { problemHandler } from './middleware/problem-handler.ts';
import { requestContextMiddleware } from './middleware/request-context.ts';
import { securityHeaders } from './middleware/security-headers.ts';

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  trustProxy: boolean;
  cookieKeys: string[];
  hsts: boolean;
  /** Our own routes (operations, well-known, /v1 …), tried before the OIDC engine. */
  routers: Router[];
  /** The OIDC engine; it answers everything our routers do not. */
  engine?: Middleware;
}

export function createHttpApp(opts: HttpAppOptions): Koa {
  const app = new Koa({ proxy: opts.trustProxy, keys: opts.cookieKeys });
  // Koa's default handler prints to stderr; errors are already logged by the problem handler.
  app.silent = true;
  app.use(requestContextMiddleware());
  app.use(observeMiddleware(opts.logger, opts.metrics));
  app.use(securityHeaders({ hsts: opts.hsts }));
  // The engine renders its own (RFC 6749) errors and never lets them escape, so this only
  // ever formats errors of our routes and the 404 for paths nobody serves.
  app.use(problemHandler(opts.logger));
  // One dispatcher for all our routers: a request for an engine endpoint (the hot token and
  // introspection paths) pays one regexp scan here instead of two middlewares per router.
  const routed = routeIndex(opts.routers.flatMap((r) => r.stack));
  const ours: Middleware = compose(
    opts.routers.flatMap((r): Middleware[] => [
      r.routes() as unknown as Middleware,
      r.allowedMethods({
        throw: true,
        methodNotAllowed: () => new AppError('method_not_allowed'),
        notImplemented: () => new AppError('method_not_allowed'),
      }) as unknown as Middleware,
    ]),
  );
  app.use((ctx, next) => (routed(ctx.path) ? ours(ctx, next) : next()));
  if (opts.engine) app.use(opts.engine);
  return app;
}

interface RouteLayer {
  path: unknown;
  match(path: string): boolean;
}

/** A path's first segment: `/v1/tenants/x` → `v1`. */
const firstSegment = (path: string): string => {
  const end = path.indexOf('/', 1);
  // Routes match case-insensitively (the router's default), so the index does too.
  return (end === -1 ? path.slice(1) : path.slice(1, end)).toLowerCase();
};

/**
 * Whether one of our routes serves a path. Layers are grouped by their literal first segment, so
 * an engine request (`/token`, `/introspect`) is answered by one map lookup however many admin and
 * account routes exist, instead of a regexp per route; a layer whose first segment is a pattern is
 * tried for every path.
 */
export function routeIndex(layers: readonly RouteLayer[]): (path: string) => boolean {
  const bySegment = new Map<string, RouteLayer[]>();
  const anywhere: RouteLayer[] = [];
  for (const layer of layers) {
    const seg = typeof layer.path === 'string' && layer.path.startsWith('/') ? firstSegment(layer.path) : undefined;
    if (seg === undefined || /[:*()?+[\]{}]/.test(seg)) anywhere.push(layer);
    else bySegment.set(seg, [...(bySegment.get(seg) ?? []), layer]);
  }
  return (path) => {
    const candidates = bySegment.get(firstSegment(path));
    return (candidates?.some((l) => l.match(path)) ?? false) || anywhere.some((l) => l.match(path));
  };
}
