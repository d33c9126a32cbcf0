import type { Middleware } from 'koa';
import type { Logger } from '../../observability/logger.ts';
import type { Metrics } from '../../observability/metrics.ts';

type Ctx = Parameters<Middleware>[0];

/** Route label: the matched template or the engine's endpoint name, never the raw path (ids would explode cardinality). */
function routeLabel(ctx: Ctx): string {
  const matched = (ctx as { _matchedRoute?: string })._matchedRoute;
  if (matched) return matched;
  if (ctx.state.route) return String(ctx.state.route);
  const engineRoute = (ctx as { oidc?: { route?: string } }).oidc?.route;
  if (engineRoute) return `oidc:${engineRoute}`;
  return ctx.status === 404 ? 'unmatched' : 'oidc';
}

const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

/**
 * Access log line and per-route rate/error/duration metrics for every request. This runs on the
 * hot token and introspection paths, so label children are resolved once per label set (the
 * registry would otherwise hash the label object on every observation) and the in-flight gauge
 * is read at scrape time instead of being updated twice per request.
 */
export function observeMiddleware(logger: Logger, metrics: Metrics): Middleware {
  const counters = new Map<string, { inc(): void }>();
  const histograms = new Map<string, { observe(v: number): void }>();
  let inFlight = 0;
  metrics.onCollect(() => metrics.httpInFlight.set(inFlight));

  return async (ctx, next) => {
    const start = performance.now();
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
      const route = routeLabel(ctx);
      const seconds = (performance.now() - start) / 1000;
      const { method, status } = ctx;
      const ck = `${method} ${route} ${status}`;
      let counter = counters.get(ck);
      if (!counter) {
        counter = metrics.httpRequests.labels(method, route, String(status));
        counters.set(ck, counter);
      }
      counter.inc();
      const hk = `${method} ${route}`;
      let histogram = histograms.get(hk);
      if (!histogram) {
        histogram = metrics.httpDuration.labels(method, route);
        histograms.set(hk, histogram);
      }
      histogram.observe(seconds);
      // Probes and scrapes would drown the log; they are visible in metrics.
      const level = status >= 500 ? 'error' : 'info';
      if (logger.isLevelEnabled(level) && !QUIET_PATHS.has(ctx.path)) {
        logger[level]({ method, route, status, ms: Math.round(seconds * 1000) }, 'request');
      }
    }
  };
}
