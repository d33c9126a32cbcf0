import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { KeyValueStore } from './types.ts';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  logger: Logger;
  metrics?: Metrics;
}

/** Redis-backed store. Commands fail fast while disconnected so callers can fail closed. */
export class RedisStore implements KeyValueStore {
  readonly mode = 'redis' as const;
  readonly #client: Redis;
  #subscriber: Redis | undefined;
  readonly #opts: RedisStoreOptions;

  constructor(opts: RedisStoreOptions) {
    this.#opts = opts;
    this.#client = this.#connect('iam');
  }

  #connect(name: string, opts: { offlineQueue?: boolean } = {}): Redis {
    const client = new Redis(this.#opts.url, {
      keyPrefix: this.#opts.keyPrefix,
      connectionName: name,
      lazyConnect: false,
      // Queueing commands while Redis is away would turn an outage into hanging requests.
      enableOfflineQueue: opts.offlineQueue ?? false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      commandTimeout: 2_000,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
    });
    let lastLogged = 0;
    client.on('error', (err) => {
      this.#opts.metrics?.redisCommandErrors.inc();
      // An outage produces an error per retry; log at most every 10 s.
      if (Date.now() - lastLogged > 10_000) {
        lastLogged = Date.now();
        this.#opts.logger.warn({ err: err.message }, 'redis connection error');
      }
    });
    return client;
  }

  /** Resolves once connected (or rejects after the timeout), for ordered start-up. */
  async ready(timeoutMs = 10_000): Promise<void> {
    if (this.#client.status === 'ready') return;
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`redis not reachable within ${timeoutMs} ms`)), timeoutMs);
      this.#client.once('ready', () => {
        clearTimeout(t);
        ok();
      });
    });
  }

  async get(key: string) {
    return this.#client.get(key);
  }
  async set(key: string, value: string, ttlMs: number) {
    await this.#client.set(key, value, 'PX', ttlMs);
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    return (await this.#client.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
  }
  async getDel(key: string) {
    return this.#client.getdel(key);
  }
  async del(key: string) {
    await this.#client.del(key);
  }
  async incr(key: string, ttlMs: number) {
    const [[, n]] = (await this.#client.multi().incr(key).pexpire(key, ttlMs, 'NX').exec()) as [[unknown, number]];
    return n;
  }
  async publish(channel: string, message: string) {
    await this.#client.publish(this.#opts.keyPrefix + channel, message);
  }
  async subscribe(channel: string, onMessage: (message: string) => void) {
    // Subscriptions may be made before the connection is up; they are no request path.
    this.#subscriber ??= this.#connect('iam-sub', { offlineQueue: true });
    const full = this.#opts.keyPrefix + channel;
    const handler = (ch: string, msg: string) => {
      if (ch === full) onMessage(msg);
    };
    this.#subscriber.on('message', handler);
    await this.#subscriber.subscribe(full);
    return async () => {
      this.#subscriber?.off('message', handler);
      await this.#subscriber?.unsubscribe(full);
    };
  }
  async ping() {
    const t = performance.now();
    await this.#client.ping();
    return performance.now() - t;
  }
  async close() {
    this.#subscriber?.disconnect();
    await this.#client.quit().catch(() => this.#client.disconnect());
  }
}
