import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, type Knex } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { services } from './services.ts';

export interface TestDatabase {
  url: string;
  name: string;
  db: Knex;
  drop(): Promise<void>;
}

function withDatabase(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh, empty database (optionally migrated) on the given server; dropped by `drop()`. */
export async function createTestDatabase(opts: { migrate?: boolean; adminUrl?: string } = {}): Promise<TestDatabase> {
  const adminUrl = opts.adminUrl ?? services.postgresAdminUrl;
  const name = `iam_test_${randomBytes(5).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`create database ${name}`));
  const url = withDatabase(adminUrl, name);
  const db = createDb({ url, poolMin: 0, poolMax: 10, statementTimeoutMs: 30_000, applicationName: 'iam-test' });
  if (opts.migrate ?? true) await migrateLatest(db);
  return {
    url,
    name,
    db,
    async drop() {
      await db.destroy();
      await admin(adminUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}
