import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type { Knex } from 'knex';

// int8 (bigint) columns such as outbox positions fit in a JS number for our lifetimes.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DbOptions {
  url: string;
  poolMin: number;
  poolMax: number;
  statementTimeoutMs: number;
  applicationName?: string;
}

export function createDb(opts: DbOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: opts.url,
      application_name: opts.applicationName ?? 'infranotes-iam',
      statement_timeout: opts.statementTimeoutMs || undefined,
    },
    pool: { min: opts.poolMin, max: opts.poolMax },
    acquireConnectionTimeout: 10_000,
  });
}

/** Pool occupancy for metrics (tarn exposes these counters). */
export function poolStats(db: Knex): { used: number; free: number; pending: number } {
  const pool = (db.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
  if (!pool) return { used: 0, free: 0, pending: 0 };
  return { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires() };
}
