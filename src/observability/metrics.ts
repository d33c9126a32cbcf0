import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per service instance (tests run several instances in one process).
 * Components add gauges whose values they compute at scrape time via `onCollect`.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'iam_' });
  const collectors: Array<() => Promise<void> | void> = [];
  const reg = [registry];

  const m = {
    registry,
    httpRequests: new Counter({
      name: 'iam_http_requests_total',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: reg,
    }),
    httpDuration: new Histogram({
      name: 'iam_http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: reg,
    }),
    httpInFlight: new Gauge({ name: 'iam_http_requests_in_flight', help: 'Requests being served', registers: reg }),
    dbPool: new Gauge({
      name: 'iam_db_pool_connections',
      help: 'PostgreSQL pool connections by state',
      labelNames: ['state'] as const,
      registers: reg,
    }),
    dependencyUp: new Gauge({
      name: 'iam_dependency_up',
      help: '1 when a dependency answered its last readiness probe',
      labelNames: ['dependency'] as const,
      registers: reg,
    }),
    redisCommandErrors: new Counter({ name: 'iam_redis_errors_total', help: 'Redis connection or command errors', registers: reg }),
    outboxPending: new Gauge({ name: 'iam_outbox_pending', help: 'Outbox events waiting to be published', registers: reg }),
    outboxParked: new Gauge({ name: 'iam_outbox_parked', help: 'Outbox events parked after repeated failures', registers: reg }),
    outboxLag: new Gauge({
      name: 'iam_outbox_lag_seconds',
      help: 'Age of the oldest unpublished outbox event',
      registers: reg,
    }),
    outboxPublished: new Counter({ name: 'iam_outbox_published_total', help: 'Outbox events published to Kafka', registers: reg }),
    outboxFailed: new Counter({ name: 'iam_outbox_publish_failures_total', help: 'Failed publish attempts', registers: reg }),
    signingKeys: new Gauge({
      name: 'iam_signing_keys',
      help: 'Signing keys by purpose and state',
      labelNames: ['purpose', 'state'] as const,
      registers: reg,
    }),
    signingKeyRotations: new Counter({
      name: 'iam_signing_key_rotations_total',
      help: 'Signing key rotations performed by this instance',
      labelNames: ['purpose', 'reason'] as const,
      registers: reg,
    }),
    onCollect(fn: () => Promise<void> | void) {
      collectors.push(fn);
    },
    async render(): Promise<string> {
      // A failing collector must not take the whole scrape down.
      await Promise.allSettled(collectors.map((fn) => fn()));
      return registry.metrics();
    },
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
