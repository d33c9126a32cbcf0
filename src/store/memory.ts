import { EventEmitter } from 'node:events';
import type { KeyValueStore } from './types.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

/** In-process store for the embedded default: correct for one instance, never shared. */
export class MemoryStore implements KeyValueStore {
  readonly mode = 'memory' as const;
  readonly #data = new Map<string, Entry>();
  readonly #bus = new EventEmitter();
  readonly #sweep: NodeJS.Timeout;

  readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.#bus.setMaxListeners(0);
    this.#sweep = setInterval(() => this.#purge(), 30_000).unref();
  }

  #live(key: string): Entry | undefined {
    const e = this.#data.get(key);
    if (e && e.expiresAt <= this.now()) {
      this.#data.delete(key);
      return undefined;
    }
    return e;
  }

  #purge(): void {
    const t = this.now();
    for (const [k, e] of this.#data) if (e.expiresAt <= t) this.#data.delete(k);
  }

  async get(key: string) {
    return this.#live(key)?.value ?? null;
  }
  async set(key: string, value: string, ttlMs: number) {
    this.#data.set(key, { value, expiresAt: this.now() + ttlMs });
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    if (this.#live(key)) return false;
    this.#data.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }
  async getDel(key: string) {
    const e = this.#live(key);
    this.#data.delete(key);
    return e?.value ?? null;
  }
  async del(key: string) {
    this.#data.delete(key);
  }
  async incr(key: string, ttlMs: number) {
    const e = this.#live(key);
    const next = (e ? Number(e.value) : 0) + 1;
    this.#data.set(key, { value: String(next), expiresAt: e?.expiresAt ?? this.now() + ttlMs });
    return next;
  }
  async publish(channel: string, message: string) {
    this.#bus.emit(channel, message);
  }
  async subscribe(channel: string, onMessage: (message: string) => void) {
    this.#bus.on(channel, onMessage);
    return async () => {
      this.#bus.off(channel, onMessage);
    };
  }
  async ping() {
    return 0;
  }
  async close() {
    clearInterval(this.#sweep);
    this.#data.clear();
    this.#bus.removeAllListeners();
  }
}
