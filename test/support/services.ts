import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/observability/logger.ts';

/**
 * The real services the suite runs against. Defaults: an embedded PostgreSQL 18 under /tmp,
 * the machine's Redis on 127.0.0.1:6379, and a KRaft Kafka broker that scripts/kafka.sh starts
 * when none is listening. Each can be pointed elsewhere by environment variable.
 */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const testLogger = createLogger({ level: process.env.IAM_TEST_LOG_LEVEL ?? 'silent' });

export const services = {
  /** Admin URL of a PostgreSQL server on which tests create throwaway databases. */
  postgresAdminUrl: '',
  redisUrl: process.env.IAM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  kafkaBrokers: (process.env.IAM_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
};

let stopEmbedded: (() => Promise<void>) | undefined;
let kafkaStartedHere = false;

export function portOpen(hostPort: string, timeoutMs = 500): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((ok) => {
    const s = createConnection({ host, port: Number(port) });
    const done = (v: boolean) => {
      s.destroy();
      ok(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function startServices(): Promise<void> {
  if (process.env.IAM_TEST_POSTGRES_URL) {
    services.postgresAdminUrl = process.env.IAM_TEST_POSTGRES_URL;
  } else {
    const pg = await startEmbeddedPostgres({
      dataDir: process.env.IAM_TEST_EMBEDDED_DIR ?? '/tmp/iam-test-pg18',
      port: Number(process.env.IAM_TEST_EMBEDDED_PORT ?? 54330),
      logger: testLogger,
    });
    services.postgresAdminUrl = pg.url.replace(/\/iam$/, '/postgres');
    stopEmbedded = () => pg.stop();
  }
}

/** Starts the KRaft broker (scripts/kafka.sh) unless one already listens; only Kafka tests call this. */
export async function ensureKafka(): Promise<string[]> {
  if (!(await portOpen(services.kafkaBrokers[0] as string))) {
    await promisify(execFile)('bash', [join(repoRoot, 'scripts/kafka.sh'), 'start'], { timeout: 180_000 });
    kafkaStartedHere = true;
  }
  return services.kafkaBrokers;
}

export async function stopServices(): Promise<void> {
  await stopEmbedded?.();
  if (kafkaStartedHere && !process.env.IAM_TEST_KEEP_KAFKA) {
    await promisify(execFile)('bash', [join(repoRoot, 'scripts/kafka.sh'), 'stop']).catch(() => undefined);
  }
}
