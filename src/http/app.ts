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
  const layers = opts.routers.flatMap((r) => r.stack);
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
  app.use((ctx, next) => (layers.some((l) => l.match(ctx.path)) ? ours(ctx, next) : next()));
  if (opts.engine) app.use(opts.engine);
  return app;
}
