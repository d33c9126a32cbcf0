import { type Admin, Kafka, type LogEntry, type logCreator, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import type { KafkaRecord } from './cloudevents.ts';
import { EventRejectedError, KafkaUnavailableError } from './errors.ts';
import { type ProvisionOptions, provisionTopics } from './topics.ts';

export interface KafkaLinkOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** Create these topics when missing, on every (re)connect: a rebuilt cluster gets them back. */
  provision?: ProvisionOptions;
}

/** The relay's connection to Kafka: one idempotent producer plus an admin client. */
export interface KafkaLink {
  readonly connected: boolean;
  /** Fresh clients every time, so no producer id or metadata survives from a cluster that went away. */
  connect(): Promise<{ provisioned: string[] }>;
  /** Publishes in array order per partition; rejects with KafkaUnavailableError or EventRejectedError. */
  send(records: readonly KafkaRecord[]): Promise<void>;
  /** Cheap round trip to notice an outage while there is nothing to publish. */
  probe(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Errors that condemn the events of one request rather than the connection. Anything else is
 * treated as "Kafka unavailable", which never burns an event's attempts: parking is for poison
 * events, not for a cluster that is down or misconfigured as a whole.
 */
const rejectingErrorTypes = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'POLICY_VIOLATION',
]);

// kafkajs warns about bounded retries on an idempotent producer because bounded retries can
// duplicate. We bound them on purpose: the relay owns retrying and consumers dedupe by id.
const boundedRetriesWarning = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

export function createKafkaLink(opts: KafkaLinkOptions): KafkaLink {
  let producer: Producer | undefined;
  let admin: Admin | undefined;

  async function close(): Promise<void> {
    const [p, a] = [producer, admin];
    producer = undefined;
    admin = undefined;
    await Promise.allSettled([p?.disconnect(), a?.disconnect()]);
  }

  return {
    get connected() {
      return producer !== undefined;
    },

    async connect() {
      await close();
      const kafka = new Kafka({
        clientId: opts.clientId,
        brokers: [...opts.brokers],
        connectionTimeout: 3_000,
        requestTimeout: 10_000,
        // Short: a dead broker must surface to the relay quickly; the relay backs off on its own.
        retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
        logLevel: logLevel.WARN,
        logCreator: pinoLogCreator(opts.logger),
      });
      const nextAdmin = kafka.admin();
      const nextProducer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // Topics come from provisioning (or the operator); broker auto-creation would pick
        // broker defaults for partitions and retention.
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 2_000 },
      });
      try {
        await nextAdmin.connect();
        const provisioned = opts.provision ? await provisionTopics(nextAdmin, opts.provision) : [];
        await nextProducer.connect();
        admin = nextAdmin;
        producer = nextProducer;
        return { provisioned };
      } catch (err) {
        await Promise.allSettled([nextProducer.disconnect(), nextAdmin.disconnect()]);
        throw new KafkaUnavailableError(`cannot connect to Kafka: ${describe(err)}`, { cause: err });
      }
    },

    async send(records) {
      if (!producer) throw new KafkaUnavailableError('not connected to Kafka');
      const byTopic = new Map<string, { key: string; value: string; headers: Record<string, string> }[]>();
      for (const r of records) {
        const list = byTopic.get(r.topic) ?? [];
        list.push({ key: r.key, value: r.value, headers: r.headers });
        byTopic.set(r.topic, list);
      }
      try {
        await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      } catch (err) {
        throw classify(err);
      }
    },

    async probe() {
      if (!admin) throw new KafkaUnavailableError('not connected to Kafka');
      try {
        await admin.describeCluster();
      } catch (err) {
        throw new KafkaUnavailableError(`Kafka probe failed: ${describe(err)}`, { cause: err });
      }
    },

    close,
  };
}

function classify(err: unknown): KafkaUnavailableError | EventRejectedError {
  const type = rejectionType(err, 0);
  if (type) return new EventRejectedError(type, describe(err), { cause: err });
  return new KafkaUnavailableError(describe(err), { cause: err });
}

// kafkajs nests the broker's verdict: retries-exceeded → cause, aggregate → errors[].
function rejectionType(err: unknown, depth: number): string | undefined {
  if (depth > 5 || err === null || typeof err !== 'object') return undefined;
  const e = err as { type?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.type === 'string' && rejectingErrorTypes.has(e.type)) return e.type;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const t = rejectionType(inner, depth + 1);
      if (t) return t;
    }
  }
  return rejectionType(e.cause, depth + 1);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// kafkajs logs each request it retries and each failed reconnect at ERROR. The relay reports
// the outcome itself (a warning per failed attempt, an error per parked event), so this
// chatter is demoted to debug rather than paging anyone on a retry that may well succeed.
const retryChatter = /^(Response \w+\(|Connection error|Connection timeout|Failed to connect to seed broker)/;

/** kafkajs logs go through our pino logger (warn and error only; kafkajs' info is chatty). */
function pinoLogCreator(logger: Logger): logCreator {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log: entry }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _logger, ...extra } = entry;
      const fields = { namespace, ...extra };
      if (message === boundedRetriesWarning || retryChatter.test(message)) log.debug(fields, message);
      else if (level === logLevel.ERROR) log.error(fields, message);
      else if (level === logLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    };
}
