import type { Adapter } from 'oidc-provider';
import type { Knex } from '../src/db/knex.ts';
import type { Logger } from '../src/observability/logger.ts';
import { MemoryBackend } from './memory.ts';
import { CLIENT_MODEL, SHORT_LIVED_MODELS } from './models.ts';
import { PostgresBackend, type PurgeOptions } from './postgres.ts';
import { RedisBackend } from './redis.ts';

export { MemoryAdapter, MemoryBackend } from './memory.ts';
export { CLIENT_MODEL, hashesIds, SHORT_LIVED_MODELS, sha256, storageKey } from './models.ts';
export { PostgresAdapter, PostgresBackend, type PurgeOptions, purgeExpiredModels } from './postgres.ts';
export { RedisAdapter, RedisBackend, type RedisBackendOptions } from './redis.ts';
export { currentUnitOfWork, runInUnitOfWork, UNIT_OF_WORK_MODELS, UnitOfWork, type UnitWrite } from './unit-of-work.ts';

export interface AdapterFactoryOptions {
  db: Knex;
  /** `redis://…`; absent or empty = short-lived models in process memory (single instance only). */
  redisUrl?: string;
  /** Prefix of every Redis key (`redis.key_prefix`); the adapters add `oidc:` after it. */
  keyPrefix: string;
  logger: Logger;
}

export interface AdapterFactory {
  /** The adapter for an oidc-provider model (pass as `adapter: factory.adapterFor`). Not for `Client`. */
  adapterFor(name: string): Adapter;
  /** Deletes PostgreSQL rows expired more than 5 minutes ago, in batches; returns how many. */
  purgeExpired(opts?: PurgeOptions): Promise<number>;
  /** Resolves once Redis is connected (immediately in memory mode); rejects after the timeout. */
  ready(timeoutMs?: number): Promise<void>;
  /** Closes the Redis connection / stops the memory sweeper. The Knex pool belongs to the caller. */
  close(): Promise<void>;
  readonly mode: 'redis' | 'memory';
}

/**
 * Storage for the oidc-provider engine (ADR-0010): durable models (Grant, Session, RefreshToken,
 * InitialAccessToken, RegistrationAccessToken, anything unknown) in PostgreSQL; short-lived ones
 * (SHORT_LIVED_MODELS) in Redis, or in process memory when no Redis is configured.
 */
export function createAdapterFactory(opts: AdapterFactoryOptions): AdapterFactory {
  const durable = new PostgresBackend(opts.db);
  const shortLived = opts.redisUrl
    ? new RedisBackend({ url: opts.redisUrl, keyPrefix: opts.keyPrefix, logger: opts.logger })
    : new MemoryBackend();
  if (shortLived instanceof MemoryBackend) {
    opts.logger.warn('oidc adapter: short-lived OIDC state (interactions, codes, access tokens) in process memory; single instance only');
  }
  const log = opts.logger;

  return {
    mode: shortLived instanceof RedisBackend ? 'redis' : 'memory',
    adapterFor(name: string): Adapter {
      if (name === CLIENT_MODEL) {
        throw new TypeError(
          'the Client model is not served by the storage adapter factory; route it to the client adapter (adapters/client.ts)',
        );
      }
      return SHORT_LIVED_MODELS.has(name) ? shortLived.adapterFor(name) : durable.adapterFor(name);
    },
    async purgeExpired(purgeOpts?: PurgeOptions): Promise<number> {
      const n = await durable.purgeExpired(purgeOpts);
      if (n > 0) log.info({ rows: n }, 'oidc adapter: purged expired rows');
      return n;
    },
    async ready(timeoutMs?: number): Promise<void> {
      if (shortLived instanceof RedisBackend) await shortLived.ready(timeoutMs);
    },
    async close(): Promise<void> {
      await shortLived.close();
    },
  };
}
