import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { KeyValueStore } from './types.ts';

export { MemoryStore } from './memory.ts';
export { RedisStore } from './redis.ts';
export type { KeyValueStore } from './types.ts';

export function createStore(opts: { url?: string; keyPrefix: string; logger: Logger; metrics?: Metrics }): KeyValueStore {
  if (opts.url) return new RedisStore({ url: opts.url, keyPrefix: opts.keyPrefix, logger: opts.logger, metrics: opts.metrics });
  opts.logger.warn(
    'redis.url is not set: using an IN-PROCESS store. Interactions, codes, rate limits and caches are NOT shared — run a single instance only',
  );
  return new MemoryStore();
}
