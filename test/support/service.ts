import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IamService, startService } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { services } from './services.ts';

export const TEST_KEK = Buffer.alloc(32, 42).toString('base64');

export interface TestService {
  service: IamService;
  database: TestDatabase;
  url: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Environment for a service instance on a database of its own (Redis and Kafka shared). */
export function serviceEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    IAM_ENV: 'test',
    IAM_DATA_DIR: mkdtempSync(join(tmpdir(), 'iam-data-')),
    IAM_SERVER_HTTP_PORT: '0',
    IAM_SERVER_HOST: '127.0.0.1',
    IAM_DATABASE_URL: database.url,
    IAM_REDIS_URL: services.redisUrl,
    IAM_REDIS_KEY_PREFIX: `iam-test-${database.name}:`,
    IAM_KEYS_KEK: TEST_KEK,
    IAM_LOG_LEVEL: process.env.IAM_TEST_LOG_LEVEL ?? 'silent',
    IAM_BOOTSTRAP_DEMO: 'false',
    IAM_SERVER_SHUTDOWN_TIMEOUT_MS: '5000',
    ...extra,
  };
}

/** A full service instance (real PostgreSQL, Redis) on a fresh database, in this process. */
export async function startTestService(extra: Record<string, string> = {}, database?: TestDatabase): Promise<TestService> {
  const db = database ?? (await createTestDatabase({ migrate: false }));
  const env = serviceEnv(db, extra);
  const service = await startService(loadConfig({ env, cwd: tmpdir() }));
  return {
    service,
    database: db,
    url: service.url,
    env,
    async stop() {
      await service.stop('test finished');
      if (!database) await db.drop();
    },
  };
}
