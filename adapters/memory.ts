import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import { fromStored, isCreateOnly, nowSeconds, replayDetected, storageKey, toStored } from './models.ts';

/**
 * In-process store for the short-lived models of the embedded default (single instance only).
 * Same semantics as the Redis backend: hashed ids, TTL expiry, one-way consumption with an atomic
 * compare-and-set (synchronous check-and-set, no await in between), per-model grant index.
 * Payloads are kept as JSON text so callers can never mutate stored state by reference.
 */

interface Entry {
  payload: string;
  consumed?: number;
  grantId?: string;
  uid?: string;
  userCode?: string;
  expiresAt: number;
}

interface IndexEntry {
  member: string;
  expiresAt: number;
}

export class MemoryBackend {
  readonly #items = new Map<string, Entry>();
  readonly #grants = new Map<string, Map<string, number>>();
  readonly #indexes = new Map<string, IndexEntry>();
  readonly #adapters = new Map<string, MemoryAdapter>();
  readonly #sweep: NodeJS.Timeout;

  constructor(sweepIntervalMs = 30_000) {
    this.#sweep = setInterval(() => this.sweep(), sweepIntervalMs).unref();
  }

  adapterFor(model: string): MemoryAdapter {
    let a = this.#adapters.get(model);
    if (!a) {
      a = new MemoryAdapter(model, this);
      this.#adapters.set(model, a);
    }
    return a;
  }

  get(itemKey: string): Entry | undefined {
    const e = this.#items.get(itemKey);
    if (e && e.expiresAt <= Date.now()) {
      this.remove(itemKey);
      return undefined;
    }
    return e;
  }

  /** Stores an entry; false (nothing written) when `createOnly` and a live entry exists. */
  put(model: string, member: string, entry: Entry, createOnly = false): boolean {
    const itemKey = `${model}:${member}`;
    const previous = this.get(itemKey);
    if (previous && createOnly) return false;
    if (previous) this.remove(itemKey);
    // Consumption is one-way: a re-save never revives a consumed item.
    if (previous?.consumed !== undefined) entry.consumed = previous.consumed;
    this.#items.set(itemKey, entry);
    const idx = { member, expiresAt: entry.expiresAt };
    if (entry.uid) this.#indexes.set(`uid:${model}:${entry.uid}`, idx);
    if (entry.userCode) this.#indexes.set(`usercode:${model}:${entry.userCode}`, idx);
    if (entry.grantId) {
      const gk = `${model}:${entry.grantId}`;
      const members = this.#grants.get(gk) ?? new Map<string, number>();
      members.set(member, entry.expiresAt);
      this.#grants.set(gk, members);
    }
    return true;
  }

  lookup(kind: 'uid' | 'usercode', model: string, value: string): Entry | undefined {
    const idx = this.#indexes.get(`${kind}:${model}:${value}`);
    if (!idx) return undefined;
    return this.get(`${model}:${idx.member}`);
  }

  remove(itemKey: string): void {
    const e = this.#items.get(itemKey);
    if (!e) return;
    this.#items.delete(itemKey);
    const sep = itemKey.indexOf(':');
    const model = itemKey.slice(0, sep);
    const member = itemKey.slice(sep + 1);
    for (const k of [e.uid && `uid:${model}:${e.uid}`, e.userCode && `usercode:${model}:${e.userCode}`]) {
      if (k && this.#indexes.get(k)?.member === member) this.#indexes.delete(k);
    }
    if (e.grantId) {
      const gk = `${model}:${e.grantId}`;
      const members = this.#grants.get(gk);
      members?.delete(member);
      if (members?.size === 0) this.#grants.delete(gk);
    }
  }

  revoke(model: string, grantId: string): void {
    const gk = `${model}:${grantId}`;
    const members = this.#grants.get(gk);
    if (!members) return;
    for (const member of [...members.keys()]) this.remove(`${model}:${member}`);
    this.#grants.delete(gk);
  }

  /** Drops expired items and index entries; runs on a timer, callable directly. */
  sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.#items) if (e.expiresAt <= now) this.remove(k);
    for (const [k, i] of this.#indexes) if (i.expiresAt <= now) this.#indexes.delete(k);
  }

  /** The stored state as text, for tests and debugging (holds no raw bearer values). */
  inspectRaw(): string {
    return JSON.stringify({
      items: [...this.#items],
      indexes: [...this.#indexes],
      grants: [...this.#grants].map(([k, m]) => [k, [...m]]),
    });
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#items.clear();
    this.#grants.clear();
    this.#indexes.clear();
  }
}

export class MemoryAdapter implements Adapter {
  readonly #model: string;
  readonly #store: MemoryBackend;

  constructor(model: string, store: MemoryBackend) {
    this.#model = model;
    this.#store = store;
  }

  #key(id: string): string {
    return `${this.#model}:${storageKey(this.#model, id)}`;
  }

  #decode(e: Entry | undefined, id: string | undefined): AdapterPayload | undefined {
    return e && fromStored(JSON.parse(e.payload) as Record<string, unknown>, id, e.consumed);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const item = toStored(this.#model, id, payload);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
    const written = this.#store.put(
      this.#model,
      item.key,
      {
        payload: JSON.stringify(item.payload),
        ...(item.consumed !== undefined && { consumed: item.consumed }),
        ...(item.grantId && { grantId: item.grantId }),
        ...(item.uid && { uid: item.uid }),
        ...(item.userCode && { userCode: item.userCode }),
        expiresAt,
      },
      isCreateOnly(this.#model),
    );
    if (!written) throw replayDetected(this.#model);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#decode(this.#store.get(this.#key(id)), id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#decode(this.#store.lookup('uid', this.#model, uid), undefined);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#decode(this.#store.lookup('usercode', this.#model, userCode), undefined);
  }

  /** Check-and-set without an await in between: atomic on the single event loop. */
  async consume(id: string): Promise<void> {
    const e = this.#store.get(this.#key(id));
    if (!e || e.consumed !== undefined) throw new errors.InvalidGrant(`${this.#model} already consumed or not found`);
    e.consumed = nowSeconds();
  }

  async destroy(id: string): Promise<void> {
    this.#store.remove(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.#store.revoke(this.#model, grantId);
  }
}
