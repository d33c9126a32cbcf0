import type { Knex } from 'knex';

export interface OutboxStats {
  pending: number;
  parked: number;
  /** Age in seconds of the oldest pending event; 0 when nothing waits. */
  lagSeconds: number;
}

/**
 * Scrape-time figures. Each subquery reads only a partial index (pending / parked), so the cost
 * follows the backlog, not the table; published history does not slow a scrape down.
 */
export async function readStats(db: Knex): Promise<OutboxStats> {
  const { rows } = await db.raw<{ rows: { pending: number; parked: number; lag: number | null }[] }>(
    `select
       (select count(*)::int from outbox_events where status = 'pending') as pending,
       (select count(*)::int from outbox_events where status = 'parked') as parked,
       (select extract(epoch from clock_timestamp() - occurred_at)::float8 from outbox_events
         where status = 'pending' order by position limit 1) as lag`,
  );
  const row = rows[0];
  return { pending: row?.pending ?? 0, parked: row?.parked ?? 0, lagSeconds: Math.max(0, row?.lag ?? 0) };
}
