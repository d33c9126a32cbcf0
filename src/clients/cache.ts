import type { Knex } from 'knex';
import { listenChannel } from '../db/notify.ts';
import type { Logger } from '../observability/logger.ts';
import { CLIENT_ID_PATTERN } from './schema.ts';
import { CLIENTS_CHANGED_CHANNEL, type ClientLookup, loadLookup } from './store.ts';

/**
 * Subscribes to client change notifications: `onChange(clientId)` for one client, `onChange()`
 * for all. Returns the unsubscribe function.
 */
export type ClientChangeSubscription = (onChange: (clientId?: string) => void) => () => Promise<void> | void;

/**
 * Change notifications from every instance, through PostgreSQL LISTEN on a dedicated connection
 * (reconnecting with backoff). Notifications sent while it is disconnected are lost, so a
 * reconnection drops the whole cache.
 */
export function listenForClientChanges(opts: { url: string; logger: Logger }): ClientChangeSubscription {
  return (onChange) => {
    const listener = listenChannel({
      url: opts.url,
      channel: CLIENTS_CHANGED_CHANNEL,
      logger: opts.logger,
      onNotify: (payload) => onChange(payload === '' ? undefined : payload),
      onConnect: () => onChange(undefined),
    });
    return () => listener.close();
  };
}

export interface ClientCacheOptions {
  db: Knex;
  logger: Logger;
  /** Where change notifications come from (`listenForClientChanges({ url, logger })` in the service). */
  listen?: ClientChangeSubscription;
  /** How long a found client is served without re-reading it (default 60 s). */
  ttlMs?: number;
  /** How long an unknown client_id is remembered as unknown (default 5 s). */
  negativeTtlMs?: number;
  /** Entries kept at most (least recently used evicted first; default 10 000). */
  maxEntries?: number;
}

export interface ClientCacheStats {
  size: number;
  hits: number;
  misses: number;
  invalidations: number;
}

export interface ClientCache {
  /** The client, whether it is usable and its secrets; undefined when no such client exists. */
  get(clientId: string): Promise<ClientLookup | undefined>;
  /** SHA-256 hashes of the client's secrets valid right now (none for unknown or unusable clients). */
  validSecretHashes(clientId: string): Promise<Buffer[]>;
  /** Drops one client (or everything) — what a change notification does. */
  invalidate(clientId?: string): void;
  stats(): ClientCacheStats;
  /** Stops listening; the cache keeps answering from the database. */
  close(): Promise<void>;
}

interface Entry {
  value: ClientLookup | null;
  expiresAt: number;
}

/**
 * In-process cache of client lookups by client_id, in front of every engine request that names
 * a client (the engine itself re-reads adapter-backed clients on each request, DESIGN §9). Found
 * clients live `ttlMs`, unknown ids `negativeTtlMs`; a change notification from any instance drops
 * the entry at once. A load racing with a notification is not stored, so a change is never masked
 * by a read that started before it. Secret expiry is re-checked at each use, so an overlap ends
 * on time whatever the TTL.
 */
export function createClientCache(opts: ClientCacheOptions): ClientCache {
  const ttlMs = opts.ttlMs ?? 60_000;
  const negativeTtlMs = opts.negativeTtlMs ?? 5_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<ClientLookup | undefined>>();
  const counters = { hits: 0, misses: 0, invalidations: 0 };

  const invalidate = (clientId?: string) => {
    counters.invalidations++;
    if (clientId === undefined) {
      entries.clear();
      inflight.clear();
    } else {
      entries.delete(clientId);
      inflight.delete(clientId);
    }
  };

  const unsubscribe = opts.listen?.((clientId) => {
    invalidate(clientId);
    opts.logger.debug({ client_id: clientId ?? '*' }, 'client cache invalidated');
  });

  const store = (clientId: string, value: ClientLookup | undefined) => {
    entries.delete(clientId);
    entries.set(clientId, { value: value ?? null, expiresAt: Date.now() + (value ? ttlMs : negativeTtlMs) });
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  };

  const get = async (clientId: string): Promise<ClientLookup | undefined> => {
    if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) return undefined;
    const entry = entries.get(clientId);
    if (entry && entry.expiresAt > Date.now()) {
      counters.hits++;
      // Refresh recency (Map order is the eviction order).
      entries.delete(clientId);
      entries.set(clientId, entry);
      return entry.value ?? undefined;
    }
    counters.misses++;
    const pending = inflight.get(clientId);
    if (pending) return pending;
    const load = loadLookup(opts.db, clientId).then(
      (value) => {
        // Invalidated while loading: the result may predate the change; answer, but do not keep it.
        if (inflight.get(clientId) === load) {
          inflight.delete(clientId);
          store(clientId, value);
        }
        return value;
      },
      (err: unknown) => {
        if (inflight.get(clientId) === load) inflight.delete(clientId);
        throw err;
      },
    );
    inflight.set(clientId, load);
    return load;
  };

  return {
    get,
    async validSecretHashes(clientId) {
      const found = await get(clientId);
      if (!found?.usable) return [];
      const now = Date.now();
      return found.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.hash);
    },
    invalidate,
    stats: () => ({ size: entries.size, ...counters }),
    async close() {
      await unsubscribe?.();
    },
  };
}
