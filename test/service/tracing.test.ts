import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort, spawnProcess, waitFor } from '../support/process.ts';
import { serviceEnv } from '../support/service.ts';
import { ensureKafka } from '../support/services.ts';

interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: {
      scope?: { name: string };
      spans?: { name: string; traceId: string; attributes?: { key: string; value: { stringValue?: string } }[] }[];
    }[];
  }[];
}

/** A minimal OTLP/HTTP (JSON) collector: records every exported span with its instrumentation scope. */
function collector(): Promise<{ server: Server; url: string; spans: { scope: string; name: string; service?: string; path?: string }[] }> {
  const spans: { scope: string; name: string; service?: string; path?: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      try {
        const doc = JSON.parse(body) as OtlpExport;
        for (const rs of doc.resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? []) {
              const path = s.attributes?.find((a) => a.key === 'url.path' || a.key === 'http.target')?.value.stringValue;
              spans.push({ scope: ss.scope?.name ?? '', name: s.name, service, path });
            }
        }
      } catch {
        // Not JSON (e.g. protobuf): the assertions below will show nothing was understood.
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans })),
  );
}

describe('OpenTelemetry tracing', function () {
  this.timeout(90_000);
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase({ migrate: false });
  });
  after(async () => {
    await database?.drop();
  });

  it('exports spans for HTTP, PostgreSQL, Redis and Kafka over OTLP when enabled', async () => {
    const brokers = await ensureKafka();
    const otlp = await collector();
    const port = await freePort();
    const p = spawnProcess(
      process.execPath,
      ['src/main.ts'],
      serviceEnv(database, {
        IAM_SERVER_HTTP_PORT: String(port),
        IAM_TRACING_ENABLED: 'true',
        IAM_TRACING_OTLP_ENDPOINT: otlp.url,
        IAM_TRACING_SERVICE_NAME: 'iam-tracing-test',
        IAM_KAFKA_BROKERS: brokers.join(','),
        IAM_OUTBOX_POLL_INTERVAL_MS: '50',
      }),
    );
    try {
      await waitFor(`http://127.0.0.1:${port}/ready`);
      await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`);
      await fetch(`http://127.0.0.1:${port}/health`);
      await fetch(`http://127.0.0.1:${port}/ready`);
      await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
      // Key bootstrap wrote key events; wait until the relay published them.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const pending = await database.db('outbox_events').where({ status: 'pending' }).count<{ count: string }[]>('* as count');
        if (Number(pending[0]?.count) === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      p.child.kill('SIGTERM');
    }
    expect((await p.exited).code, p.stderr()).to.equal(0);
    otlp.server.close();
    const scopes = new Set(otlp.spans.map((s) => s.scope));
    expect([...scopes].join(', ')).to.include('@opentelemetry/instrumentation-http');
    expect(scopes).to.include('@opentelemetry/instrumentation-pg');
    expect(scopes).to.include('@opentelemetry/instrumentation-ioredis');
    expect(scopes).to.include('@opentelemetry/instrumentation-kafkajs');
    expect(otlp.spans.every((s) => s.service === 'iam-tracing-test')).to.equal(true);
    // Liveness probes stay out of traces; readiness (with its dependency probes) is traced.
    const httpPaths = otlp.spans.filter((s) => s.scope.endsWith('instrumentation-http')).map((s) => s.path);
    expect(httpPaths).to.include('/ready');
    expect(httpPaths).to.include('/.well-known/jwks.json');
    expect(httpPaths).not.to.include('/health');
  });
});
