import type { Config } from '../config/index.ts';

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry over OTLP/HTTP, off by default. Must start before the instrumented libraries
 * (http, koa, pg, ioredis, kafkajs) are imported, so `main.ts` calls it first and loads the
 * rest of the service afterwards.
 */
export async function startTracing(config: Config): Promise<Tracing | undefined> {
  if (!config.tracing.enabled) return undefined;
  const { register } = await import('node:module');
  // ESM imports are only patchable through the import-in-the-middle loader hook.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [{ NodeSDK }, { OTLPTraceExporter }, http, koa, pg, ioredis, kafkajs, base, resources] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-koa'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-kafkajs'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/resources'),
  ]);
  const sdk = new NodeSDK({
    resource: resources.resourceFromAttributes({ 'service.name': config.tracing.service_name }),
    traceExporter: new OTLPTraceExporter({ url: config.tracing.otlp_endpoint }),
    sampler: new base.ParentBasedSampler({ root: new base.TraceIdRatioBasedSampler(config.tracing.sample_ratio) }),
    instrumentations: [
      // Liveness and scrapes would flood traces; /ready stays, its dependency probes explain readiness flaps.
      new http.HttpInstrumentation({ ignoreIncomingRequestHook: (req) => ['/health', '/metrics'].includes(req.url ?? '') }),
      new koa.KoaInstrumentation(),
      new pg.PgInstrumentation(),
      new ioredis.IORedisInstrumentation(),
      new kafkajs.KafkaJsInstrumentation(),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
