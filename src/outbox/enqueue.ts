import type { Knex } from 'knex';
import { OutboxUsageError } from './errors.ts';
import { laneOf } from './lanes.ts';
import { isValidEventType, topicForType } from './topics.ts';

export interface OutboxEventInput {
  /** CloudEvents type, `com.infranotes.iam.<aggregate>.<event>`; it selects the topic. */
  type: string;
  /** Overrides the topic derived from the type (tests, or an event routed deliberately elsewhere). */
  topic?: string;
  /** Aggregate id: the Kafka message key, hence partition and ordering scope. */
  key: string;
  /** CloudEvents source; defaults to the deployment's (`//iam.infranotes/<issuer host>`). */
  source?: string;
  subject?: string;
  tenantId?: string;
  /** JSON-serialisable payload (the CloudEvents `data`). */
  data: unknown;
  /** CloudEvents id (a UUID); generated (UUIDv7) when omitted. */
  id?: string;
  /** When the change happened; defaults to the transaction's start time. */
  time?: Date;
}

export interface EnqueuedEvent {
  id: string;
  position: number;
  topic: string;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const topicPattern = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * Records an event in the transaction of the change it describes: it is published if and only
 * if that transaction commits. Passing the plain pool instead of a transaction is refused —
 * an event written outside the change's transaction could announce something that never
 * happened, or be lost when the change did happen.
 */
export async function enqueueEvent(trx: Knex.Transaction, event: OutboxEventInput): Promise<EnqueuedEvent> {
  if (!isOpenTransaction(trx)) {
    throw new OutboxUsageError('enqueueEvent needs the open transaction of the change the event describes');
  }
  // An explicit topic still needs a well-formed type: consumers route on it.
  if (typeof event.type !== 'string' || !isValidEventType(event.type)) {
    throw new OutboxUsageError(`event type "${String(event.type)}" is not of the form com.infranotes.iam.<aggregate>.<event>`);
  }
  const topic = event.topic ?? topicForType(event.type);
  if (!topicPattern.test(topic)) throw new OutboxUsageError(`invalid topic name "${topic}"`);
  if (typeof event.key !== 'string' || event.key.length === 0 || event.key.length > 512) {
    throw new OutboxUsageError('event key must be a non-empty string of at most 512 characters');
  }
  if (event.id !== undefined && !uuidPattern.test(event.id)) throw new OutboxUsageError('event id must be a UUID');
  if (event.tenantId !== undefined && !uuidPattern.test(event.tenantId)) throw new OutboxUsageError('tenantId must be a UUID');
  if (event.time !== undefined && Number.isNaN(event.time.getTime())) throw new OutboxUsageError('event time is not a valid date');

  const [row] = (await trx('outbox_events')
    .insert({
      ...(event.id !== undefined ? { id: event.id } : {}),
      lane: laneOf(event.key),
      topic,
      key: event.key,
      type: event.type,
      source: event.source ?? null,
      subject: event.subject ?? null,
      tenant_id: event.tenantId ?? null,
      data: serialise(event.data),
      ...(event.time !== undefined ? { occurred_at: event.time } : {}),
    })
    .returning(['id', 'position'])) as { id: string; position: number }[];
  if (!row) throw new OutboxUsageError('outbox insert returned no row');
  return { id: row.id, position: row.position, topic };
}

function isOpenTransaction(trx: unknown): trx is Knex.Transaction {
  if (typeof trx !== 'function') return false;
  const t = trx as { isTransaction?: unknown; isCompleted?: unknown };
  return t.isTransaction === true && typeof t.isCompleted === 'function' && t.isCompleted() === false;
}

// jsonb is written from text: handing pg a JS array would make it a PostgreSQL array literal.
function serialise(data: unknown): string {
  try {
    return JSON.stringify(data ?? null);
  } catch (err) {
    throw new OutboxUsageError('event data is not JSON-serialisable', { cause: err });
  }
}
