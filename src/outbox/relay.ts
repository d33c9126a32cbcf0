import type { Knex } from 'knex';
import type pg from 'pg';
import type { Config } from '../config/schema.ts';
import { InternalError } from '../errors/app-error.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { backoffDelay } from './backoff.ts';
import { type ClaimedEvent, claimBatch, markPublished, park, scheduleRetry } from './claims.ts';
import { defaultSource, type KafkaRecord, toKafkaRecord } from './cloudevents.ts';
import { EventRejectedError, KafkaUnavailableError } from './errors.ts';
import { createKafkaLink } from './kafka.ts';
import { LaneLeases } from './lane-leases.ts';
import { readStats } from './stats.ts';
import { CONTRACT_TOPICS } from './topics.ts';

export interface OutboxRelayOptions {
  db: Knex;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  instanceId: string;
  /** Prepended to every topic (an environment sharing a cluster, or test isolation). */
  topicPrefix?: string;
  /** How often status() counts are refreshed in the background (default 5 s; scrapes refresh too). */
  statusRefreshMs?: number;
}

export interface RelayStatus {
  /** False when kafka.brokers is empty or outbox.relay_enabled is off: events wait in PostgreSQL. */
  enabled: boolean;
  disabledReason: 'no_brokers' | 'relay_disabled' | null;
  connected: boolean;
  pending: number;
  parked: number;
  lagSeconds: number;
  lastPublishAt: string | null;
  lastError: string | null;
  /** Lanes this instance currently publishes (of LANE_COUNT, shared among relay instances). */
  lanes: number;
}

export interface DrainResult {
  claimed: number;
  published: number;
  /** Refused by Kafka and scheduled for another attempt. */
  retried: number;
  parked: number;
}

export interface OutboxRelay {
  /** Returns at once; connecting to Kafka happens in the background, with backoff. */
  start(): Promise<void>;
  /** Finishes the batch in flight, gives the lanes back and disconnects. Idempotent. */
  stop(): Promise<void>;
  /** Snapshot for /ready; counts are refreshed every few seconds and at each metrics scrape. */
  status(): RelayStatus;
  /** One claim-and-publish cycle, connecting first if needed (tests, operator tooling). */
  drainOnce(): Promise<DrainResult>;
}

/** With nothing to publish, a broker outage is only noticed by probing. */
const idleProbeMs = 10_000;

export function createOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { db, config, metrics } = opts;
  const logger = opts.logger.child({ component: 'outbox-relay', instance: opts.instanceId });
  const disabledReason: RelayStatus['disabledReason'] =
    config.kafka.brokers.length === 0 ? 'no_brokers' : !config.outbox.relay_enabled ? 'relay_disabled' : null;
  const enabled = disabledReason === null;
  const topicPrefix = opts.topicPrefix ?? '';
  const source = defaultSource(config.issuer);
  const policy = { baseMs: config.outbox.backoff_base_ms, maxMs: config.outbox.backoff_max_ms };
  const provisionedTopics = new Set(config.kafka.provision_topics ? CONTRACT_TOPICS.map((t) => `${topicPrefix}${t}`) : []);
  const link = createKafkaLink({
    brokers: config.kafka.brokers,
    clientId: config.kafka.client_id,
    logger,
    provision:
      provisionedTopics.size > 0
        ? { topics: [...provisionedTopics], partitions: config.kafka.topic_partitions, replicationFactor: config.kafka.replication_factor }
        : undefined,
  });
  const leases = new LaneLeases({ db, instanceId: opts.instanceId, logger });

  const state = {
    connected: false,
    pending: 0,
    parked: 0,
    lagSeconds: 0,
    lastPublishAt: null as Date | null,
    lastError: null as string | null,
  };
  let connectFailures = 0;
  let nextConnectAt = 0;
  let lastKafkaOkAt = 0;
  let cycleFailures = 0;
  let started = false;
  let stopping = false;
  let closed = false;
  let loop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  let statsInFlight: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  // drainOnce and the background loop share one lane session: cycles run one at a time.
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn);
    chain = next.catch(() => undefined);
    return next;
  };

  function refreshStats(): Promise<void> {
    statsInFlight ??= readStats(db)
      .then((s) => {
        state.pending = s.pending;
        state.parked = s.parked;
        state.lagSeconds = s.lagSeconds;
        metrics.outboxPending.set(s.pending);
        metrics.outboxParked.set(s.parked);
        metrics.outboxLag.set(s.lagSeconds);
      })
      .finally(() => {
        statsInFlight = undefined;
      });
    return statsInFlight;
  }
  const refreshStatsQuietly = () => refreshStats().catch((err: unknown) => logger.debug({ err }, 'outbox stats unavailable'));
  metrics.onCollect(() => (closed ? undefined : refreshStats()));

  const toRecord = (e: ClaimedEvent): KafkaRecord => toKafkaRecord(e, source, topicPrefix);

  async function onKafkaLost(err: unknown): Promise<void> {
    connectFailures += 1;
    const delay = backoffDelay(connectFailures, policy);
    nextConnectAt = Date.now() + delay;
    state.connected = false;
    state.lastError = messageOf(err);
    await link.close();
    // Lanes go back to the pool so an instance that still reaches Kafka can carry on.
    await leases.release();
    logger.warn({ err, attempt: connectFailures, retry_in_ms: delay }, 'Kafka unavailable; outbox events stay pending');
  }

  async function ensureKafka(force: boolean): Promise<boolean> {
    if (link.connected) {
      if (Date.now() - lastKafkaOkAt < idleProbeMs) return true;
      try {
        await link.probe();
        lastKafkaOkAt = Date.now();
        return true;
      } catch (err) {
        await onKafkaLost(err);
        return false;
      }
    }
    if (!force && Date.now() < nextConnectAt) return false;
    try {
      const { provisioned } = await link.connect();
      if (provisioned.length > 0) logger.info({ topics: provisioned }, 'created Kafka topics');
      logger.info({ after_failures: connectFailures }, 'outbox relay connected to Kafka');
      connectFailures = 0;
      state.connected = true;
      state.lastError = null;
      lastKafkaOkAt = Date.now();
      return true;
    } catch (err) {
      await onKafkaLost(err);
      return false;
    }
  }

  function notePublished(n: number): void {
    metrics.outboxPublished.inc(n);
    state.lastPublishAt = new Date();
    lastKafkaOkAt = Date.now();
  }

  /** Publishes a claimed batch inside its claim transaction; returns the outage error, if Kafka went away. */
  async function publish(session: pg.ClientBase, events: ClaimedEvent[], result: DrainResult): Promise<unknown> {
    let failure: unknown;
    try {
      await link.send(events.map(toRecord));
    } catch (err) {
      failure = err;
    }
    if (failure === undefined) {
      await markPublished(
        session,
        events.map((e) => e.position),
      );
      result.published += events.length;
      return undefined;
    }
    if (!(failure instanceof EventRejectedError)) {
      metrics.outboxFailed.inc(events.length);
      return failure;
    }
    // Kafka refused something in the batch: find out what, one event at a time, in order.
    return publishOneByOne(session, events, result);
  }

  async function publishOneByOne(session: pg.ClientBase, events: ClaimedEvent[], result: DrainResult): Promise<unknown> {
    const heldBack = new Set<string>();
    for (const event of events) {
      const orderKey = `${event.topic}\u0000${event.key}`;
      // An earlier event of this key is backing off: the later ones wait behind it.
      if (heldBack.has(orderKey)) continue;
      try {
        await link.send([toRecord(event)]);
      } catch (err) {
        metrics.outboxFailed.inc();
        if (!(err instanceof EventRejectedError)) return err;
        // A contract topic missing means the cluster lost it (rebuilt, or deleted by hand): that
        // is the cluster's fault, not the event's — reconnecting provisions it again.
        if (err.reason === 'UNKNOWN_TOPIC_OR_PARTITION' && provisionedTopics.has(toRecord(event).topic)) {
          return new KafkaUnavailableError(`topic ${toRecord(event).topic} is missing: ${err.message}`, { cause: err });
        }
        const attempts = event.attempts + 1;
        const fields = { event_id: event.id, type: event.type, topic: event.topic, key: event.key, attempts, reason: err.reason };
        if (attempts >= config.outbox.max_attempts) {
          // Parking releases the key: one poison event must not stall its aggregate forever.
          await park(session, event.position, attempts, err.message);
          result.parked += 1;
          logger.error({ ...fields, err }, 'outbox event parked after repeated publish failures');
        } else {
          const delay = backoffDelay(attempts, policy);
          await scheduleRetry(session, event.position, attempts, delay, err.message);
          result.retried += 1;
          heldBack.add(orderKey);
          logger.warn({ ...fields, retry_in_ms: delay, err }, 'Kafka refused an outbox event; retrying later');
        }
        continue;
      }
      await markPublished(session, [event.position]);
      result.published += 1;
    }
    return undefined;
  }

  async function cycle(force: boolean): Promise<DrainResult> {
    const result: DrainResult = { claimed: 0, published: 0, retried: 0, parked: 0 };
    if (!enabled || !(await ensureKafka(force))) return result;

    let lanes: number[];
    try {
      lanes = await leases.acquire();
    } catch (err) {
      await leases.release();
      throw err;
    }
    if (lanes.length === 0) return result;

    const session = leases.session;
    let outage: unknown;
    try {
      await session.query('begin');
      const events = await claimBatch(session, lanes, config.outbox.batch_size);
      result.claimed = events.length;
      if (events.length > 0) outage = await publish(session, events, result);
      await session.query('commit');
      // Counted once committed: a failed commit means these go out again.
      if (result.published > 0) notePublished(result.published);
    } catch (err) {
      await session.query('rollback').catch(() => undefined);
      // The session's state is unknown now; a fresh one re-acquires lanes on the next cycle.
      await leases.release();
      throw err;
    }
    if (outage !== undefined) await onKafkaLost(outage);
    return result;
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  }

  async function run(): Promise<void> {
    while (!stopping) {
      let delay = config.outbox.poll_interval_ms;
      try {
        const result = await exclusive(() => cycle(false));
        cycleFailures = 0;
        if (state.connected) state.lastError = null;
        if (!state.connected) delay = Math.max(delay, nextConnectAt - Date.now());
        else if (result.claimed >= config.outbox.batch_size) delay = 0;
      } catch (err) {
        // Typically PostgreSQL being unreachable; the loop must outlive it.
        cycleFailures += 1;
        state.lastError = messageOf(err);
        delay = Math.max(delay, backoffDelay(cycleFailures, policy));
        logger.error({ err, retry_in_ms: delay }, 'outbox relay cycle failed');
      }
      if (delay > 0 && !stopping) await sleep(delay);
    }
  }

  return {
    async start() {
      if (started || closed) return;
      started = true;
      statsTimer = setInterval(refreshStatsQuietly, opts.statusRefreshMs ?? 5_000);
      statsTimer.unref();
      void refreshStatsQuietly();
      if (!enabled) {
        if (disabledReason === 'no_brokers') logger.warn('no kafka.brokers configured: outbox relay idle, events stay in PostgreSQL');
        else logger.info('outbox relay disabled on this instance (outbox.relay_enabled=false)');
        return;
      }
      logger.info({ brokers: config.kafka.brokers }, 'outbox relay starting');
      loop = run();
    },

    stop() {
      stopped ??= (async () => {
        stopping = true;
        wake?.();
        await loop;
        if (statsTimer) clearInterval(statsTimer);
        await exclusive(async () => {
          await leases.release();
          await link.close();
        });
        await statsInFlight?.catch(() => undefined);
        closed = true;
        state.connected = false;
      })();
      return stopped;
    },

    status() {
      return {
        enabled,
        disabledReason,
        connected: enabled && state.connected,
        pending: state.pending,
        parked: state.parked,
        lagSeconds: state.lagSeconds,
        lastPublishAt: state.lastPublishAt?.toISOString() ?? null,
        lastError: state.lastError,
        lanes: leases.held().length,
      };
    },

    async drainOnce() {
      if (stopping) throw new InternalError('outbox relay is stopped');
      return exclusive(async () => {
        const result = await cycle(true);
        await refreshStatsQuietly();
        return result;
      });
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
