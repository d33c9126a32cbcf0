import type { Knex } from 'knex';

/**
 * Deletes published events older than `olderThan`, in short batches so a large backlog never
 * holds one long transaction or lock. Safe to run from several instances at once (each row is
 * deleted once; a competing batch just finds less to do). Returns the number deleted.
 */
export async function purgePublished(db: Knex, olderThan: Date, opts: { batchSize?: number } = {}): Promise<number> {
  const batchSize = opts.batchSize ?? 5_000;
  let total = 0;
  for (;;) {
    const { rowCount } = await db.raw<{ rowCount: number | null }>(
      `delete from outbox_events where position in (
         select position from outbox_events
          where status = 'published' and published_at < ?
          limit ? for update skip locked)`,
      [olderThan, batchSize],
    );
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) return total;
  }
}

/**
 * Puts parked events back in line (all of them, or the given CloudEvents ids) with a fresh
 * attempt budget — for an operator who fixed the cause (created the topic, raised a limit).
 * They are published in position order relative to what is still pending, but later events
 * of their key that were published meanwhile are not recalled: consumers see the repaired
 * event late. Returns the number requeued.
 */
export async function requeueParked(db: Knex, ids?: readonly string[]): Promise<number> {
  const query = db('outbox_events')
    .where({ status: 'parked' })
    .update({ status: 'pending', attempts: 0, next_attempt_at: db.fn.now(), last_error: null });
  if (ids) query.whereIn('id', ids);
  return query;
}
