import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { type Config, configSchema } from '../../src/config/schema.ts';
import type { Knex } from '../../src/db/knex.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { type CloudEvent, createOutboxRelay, enqueueEvent, type OutboxEventInput, type OutboxRelay } from '../../src/outbox/index.ts';
import { repoRoot, testLogger } from '../support/services.ts';

/** A topic prefix no other test (or earlier run on a reused broker) shares. */
export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}.`;
}

export function relayConfig(
  brokers: string[],
  overrides: { kafka?: Record<string, unknown>; outbox?: Record<string, unknown> } = {},
): Config {
  return configSchema.parse({
    env: 'test',
    issuer: 'https://iam.test.example',
    kafka: { brokers, topic_partitions: 3, ...overrides.kafka },
    outbox: { poll_interval_ms: 50, backoff_base_ms: 50, backoff_max_ms: 500, ...overrides.outbox },
  });
}

export function newRelay(db: Knex, config: Config, topicPrefix: string, instanceId = `test-${randomBytes(3).toString('hex')}`) {
  const metrics = createMetrics();
  const relay = createOutboxRelay({ db, config, logger: testLogger, metrics, instanceId, topicPrefix, statusRefreshMs: 200 });
  return { relay, metrics };
}

/** Enqueues each event in its own committed transaction, returning the ids in enqueue order. */
export async function enqueueCommitted(db: Knex, events: OutboxEventInput[]): Promise<string[]> {
  const ids: string[] = [];
  for (const e of events) {
    const { id } = await db.transaction((trx) => enqueueEvent(trx, e));
    ids.push(id);
  }
  return ids;
}

export async function enqueueOne(db: Knex, event: OutboxEventInput): Promise<string> {
  const { id } = await db.transaction((trx) => enqueueEvent(trx, event));
  return id;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Drains until nothing is pending (bounded), for tests that drive the relay by hand. */
export async function drainAll(relay: OutboxRelay, db: Knex, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    'the outbox to drain',
    async () => {
      await relay.drainOnce();
      const [{ n }] = (await db('outbox_events').where({ status: 'pending' }).count({ n: '*' })) as [{ n: string | number }];
      return Number(n) === 0;
    },
    timeoutMs,
    20,
  );
}

export interface Consumed {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  headers: Record<string, string>;
  event: CloudEvent;
}

/**
 * Reads the topics from the beginning with a fresh consumer group until `until` is satisfied
 * (then `settleMs` longer, to catch duplicates) or the timeout passes. Every value is checked
 * against the envelope schema; a violation fails the test.
 */
export async function consume(
  brokers: string[],
  topics: string[],
  opts: { until: (msgs: Consumed[]) => boolean; timeoutMs?: number; settleMs?: number },
): Promise<Consumed[]> {
  const kafka = new Kafka({ clientId: 'outbox-test-consumer', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `outbox-test-${randomUUID()}`, sessionTimeout: 10_000, maxWaitTimeInMs: 200 });
  const msgs: Consumed[] = [];
  const violations: string[] = [];
  let satisfied: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    satisfied = resolve;
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const value = JSON.parse(message.value?.toString('utf8') ?? 'null') as unknown;
        violations.push(...validateEnvelope(value).map((v) => `${topic}@${message.offset}: ${v}`));
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']));
        msgs.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? '',
          headers,
          event: value as CloudEvent,
        });
        if (opts.until(msgs)) satisfied();
      },
    });
    const timer = setTimeout(satisfied, opts.timeoutMs ?? 20_000);
    await done;
    clearTimeout(timer);
    if (opts.settleMs) await new Promise((r) => setTimeout(r, opts.settleMs));
  } finally {
    await consumer.disconnect();
  }
  if (violations.length > 0) throw new Error(`events violate the envelope schema:\n${violations.join('\n')}`);
  return msgs.slice();
}

/** Event ids per message key in the order consumed, first delivery only (consumers dedupe by id). */
export function idsByKey(msgs: Consumed[]): Map<string, string[]> {
  const seen = new Set<string>();
  const out = new Map<string, string[]>();
  for (const m of msgs) {
    if (seen.has(m.event.id)) continue;
    seen.add(m.event.id);
    out.set(m.key, [...(out.get(m.key) ?? []), m.event.id]);
  }
  return out;
}

// --- A small validator for the JSON Schema subset the envelope schema uses (no ajv installed).
// Unknown keywords fail loudly, so the schema cannot grow past what is actually checked.

type Schema = Record<string, unknown>;
const envelopeSchema = JSON.parse(readFileSync(join(repoRoot, 'contracts/events/cloudevents-envelope.schema.json'), 'utf8')) as Schema;
const annotations = new Set(['$schema', '$id', 'title', 'description', '$comment', 'examples', 'format']);

export function validateEnvelope(value: unknown): string[] {
  return validate(envelopeSchema, value, '$');
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function validate(schema: Schema, v: unknown, path: string): string[] {
  const errors: string[] = [];
  for (const [kw, arg] of Object.entries(schema)) {
    if (annotations.has(kw)) continue;
    switch (kw) {
      case 'type': {
        const types = Array.isArray(arg) ? (arg as string[]) : [arg as string];
        const t = typeOf(v);
        if (!types.includes(t) && !(t === 'integer' && types.includes('number')))
          errors.push(`${path}: expected ${types.join('|')}, got ${t}`);
        break;
      }
      case 'const':
        if (JSON.stringify(v) !== JSON.stringify(arg)) errors.push(`${path}: expected ${JSON.stringify(arg)}`);
        break;
      case 'enum':
        if (!(arg as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v))) errors.push(`${path}: not one of the allowed values`);
        break;
      case 'pattern':
        if (typeof v === 'string' && !new RegExp(arg as string, 'u').test(v)) errors.push(`${path}: does not match ${String(arg)}`);
        break;
      case 'minLength':
        if (typeof v === 'string' && [...v].length < (arg as number)) errors.push(`${path}: shorter than ${String(arg)}`);
        break;
      case 'maxLength':
        if (typeof v === 'string' && [...v].length > (arg as number)) errors.push(`${path}: longer than ${String(arg)}`);
        break;
      case 'required':
        if (typeOf(v) === 'object') {
          for (const name of arg as string[]) if (!(name in (v as object))) errors.push(`${path}: missing ${name}`);
        }
        break;
      case 'properties':
        if (typeOf(v) === 'object') {
          for (const [name, sub] of Object.entries(arg as Record<string, Schema>)) {
            if (name in (v as object)) errors.push(...validate(sub, (v as Record<string, unknown>)[name], `${path}.${name}`));
          }
        }
        break;
      case 'propertyNames':
        if (typeOf(v) === 'object') {
          for (const name of Object.keys(v as object)) errors.push(...validate(arg as Schema, name, `${path}[${JSON.stringify(name)}]`));
        }
        break;
      default:
        throw new Error(`envelope schema uses "${kw}", which the test validator does not implement`);
    }
  }
  return errors;
}
