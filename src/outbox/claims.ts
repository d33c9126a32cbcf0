import type pg from 'pg';

/** An outbox row the relay has locked for publishing. */
export interface ClaimedEvent {
  position: number;
  id: string;
  topic: string;
  key: string;
  type: string;
  source: string | null;
  subject: string | null;
  tenantId: string | null;
  data: unknown;
  occurredAt: Date;
  attempts: number;
}

/**
 * One batch of publishable events, oldest first. Runs inside the caller's transaction; the
 * row locks hold until it commits the outcome.
 *
 * - Visibility horizon: only rows whose writing transaction is older than every transaction
 *   still running. Identity positions are handed out at insert, so a transaction can commit a
 *   higher position while a lower one is still open; the horizon waits for the open one
 *   instead of racing past it.
 * - Per-key order: a row is only eligible when no earlier pending row of the same topic+key
 *   is waiting (backing off after a failure, or committed but not yet below the horizon).
 *   Failing events therefore hold back their own key and nobody else's.
 * - SKIP LOCKED keeps a claim from queueing behind another session; lanes (lane-leases.ts)
 *   already make instances disjoint, so in steady state nothing is skipped.
 */
const claimSql = `
  with horizon as materialized (select pg_snapshot_xmin(pg_current_snapshot()) as xmin)
  select o.position, o.id, o.topic, o.key, o.type, o.source, o.subject, o.tenant_id, o.data, o.occurred_at, o.attempts
    from outbox_events o cross join horizon h
   where o.status = 'pending'
     and o.lane = any($1::smallint[])
     and o.next_attempt_at <= now()
     and o.txid < h.xmin
     and not exists (
           select 1 from outbox_events p
            where p.status = 'pending' and p.topic = o.topic and p.key = o.key and p.position < o.position
              and (p.next_attempt_at > now() or p.txid >= h.xmin))
   order by o.position
   limit $2
     for update of o skip locked`;

interface ClaimRow {
  position: number;
  id: string;
  topic: string;
  key: string;
  type: string;
  source: string | null;
  subject: string | null;
  tenant_id: string | null;
  data: unknown;
  occurred_at: Date;
  attempts: number;
}

export async function claimBatch(session: pg.ClientBase, lanes: readonly number[], limit: number): Promise<ClaimedEvent[]> {
  if (lanes.length === 0) return [];
  const { rows } = await session.query<ClaimRow>(claimSql, [lanes, limit]);
  return rows.map((r) => ({
    position: r.position,
    id: r.id,
    topic: r.topic,
    key: r.key,
    type: r.type,
    source: r.source,
    subject: r.subject,
    tenantId: r.tenant_id,
    data: r.data,
    occurredAt: r.occurred_at,
    attempts: r.attempts,
  }));
}

export async function markPublished(session: pg.ClientBase, positions: readonly number[]): Promise<void> {
  if (positions.length === 0) return;
  await session.query(
    `update outbox_events set status = 'published', published_at = clock_timestamp(), last_error = null
      where position = any($1::bigint[])`,
    [positions],
  );
}

const maxErrorLength = 2000;

export async function scheduleRetry(
  session: pg.ClientBase,
  position: number,
  attempts: number,
  delayMs: number,
  error: string,
): Promise<void> {
  await session.query(
    `update outbox_events
        set attempts = $2, next_attempt_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000), last_error = $4
      where position = $1`,
    [position, attempts, delayMs, error.slice(0, maxErrorLength)],
  );
}

export async function park(session: pg.ClientBase, position: number, attempts: number, error: string): Promise<void> {
  await session.query(`update outbox_events set status = 'parked', attempts = $2, last_error = $3 where position = $1`, [
    position,
    attempts,
    error.slice(0, maxErrorLength),
  ]);
}
