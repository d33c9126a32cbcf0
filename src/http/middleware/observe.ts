import type { Middleware } from 'koa';
import type { Logger } from '../../observability/logger.ts';
import type { Metrics } from '../../observability/metrics.ts';

/** Route label: the matched template, never the raw path (ids would explode label cardinality). */
function routeLabel(ctx: Parameters<Middleware>[0]): string {
  const matched = (ctx as { _matchedRoute?: string })._matchedRoute;
  if (matched) return matched;
  if (ctx.state.route) return String(ctx.state.route);
  return ctx.status === 404 ? 'unmatched' : 'oidc';
}

/** Access log line and per-route rate/error/duration metrics for every request. */
export function observeMiddleware(logger: Logger, metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    metrics.httpInFlight.inc();
    try {
      await next();
    } finally {
      metrics.httpInFlight.dec();
      const route = routeLabel(ctx);
      const seconds = (performance.now() - start) / 1000;
      metrics.httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) });
      metrics.httpDuration.observe({ method: ctx.method, route }, seconds);
      // Probes and scrapes would drown the log; they are visible in metrics.
      if (!['/health', '/ready', '/metrics'].includes(ctx.path)) {
        const level = ctx.status >= 500 ? 'error' : 'info';
        logger[level]({ method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request');
      }
    }
  };
}
