import Router from '@koa/router';
import type { Readiness } from '../../lifecycle/readiness.ts';
import type { Metrics } from '../../observability/metrics.ts';

/** Liveness, readiness and Prometheus scrape endpoints. */
export function operationsRoutes(deps: { readiness: Readiness; metrics: Metrics; metricsEnabled: boolean }): Router {
  const router = new Router();
  // Liveness says only that the event loop answers; dependencies belong to readiness.
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/ready', async (ctx) => {
    const report = await deps.readiness.report();
    ctx.status = report.status === 'ready' ? 200 : 503;
    ctx.body = report;
  });
  if (deps.metricsEnabled) {
    router.get('/metrics', async (ctx) => {
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.render();
    });
  }
  return router;
}
