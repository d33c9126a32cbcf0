/**
 * Short-lived shared state (interactions, codes, rate limits, caches, invalidation).
 * Redis in every multi-instance deployment; the in-process implementation exists only
 * for the single-instance embedded default.
 */
export interface KeyValueStore {
  readonly mode: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Set with a time-to-live in milliseconds. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Set only when absent; true when this call created it (atomic). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Read and delete in one atomic step (single-use artifacts). */
  getDel(key: string): Promise<string | null>;
  del(key: string): Promise<void>;
  /** Increment a counter, starting its TTL on creation; returns the new value. */
  incr(key: string, ttlMs: number): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<number>;
  close(): Promise<void>;
}
