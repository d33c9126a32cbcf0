import type { Knex } from 'knex';

/** Stable 64-bit lock id from a name, so locks are greppable by name in code. */
export function lockId(name: string): string {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(name)) h = BigInt.asUintN(64, (h ^ BigInt(c)) * 0x100000001b3n);
  return BigInt.asIntN(64, h).toString();
}

/** Runs `fn` while holding a session advisory lock on one pooled connection (waits for it). */
export async function withAdvisoryLock<T>(db: Knex, name: string, fn: () => Promise<T>): Promise<T> {
  const conn = await db.client.acquireConnection();
  try {
    await conn.query('select pg_advisory_lock($1)', [lockId(name)]);
    try {
      return await fn();
    } finally {
      await conn.query('select pg_advisory_unlock($1)', [lockId(name)]);
    }
  } finally {
    await db.client.releaseConnection(conn);
  }
}
