import { AsyncLocalStorage } from 'node:async_hooks';
import type { AdapterPayload } from 'oidc-provider';
import type { Knex } from '../src/db/knex.ts';

/**
 * A request-scoped unit of work for the PostgreSQL adapter (ADR-0010, ADR-0015): while one is
 * open, the upserts and deletes of the models it defers (the engine's Grant and Session) are
 * queued instead of run, reads of a queued item are answered from the queue, and `flush()` runs
 * everything — plus whatever other writes joined the unit — in ONE transaction. It is opened
 * around a single engine request (src/oidc/unit-of-work.ts); once flushed it is closed, and a late
 * write (work the request left running) goes straight to the database again.
 */

/** A write that runs inside the unit's transaction. */
export type UnitWrite = (trx: Knex.Transaction) => Promise<void>;

/** What a read finds in the queue: the item as last saved, or `undefined` when it was deleted. */
export interface QueuedItem {
  payload: AdapterPayload | undefined;
}

interface Entry {
  model: string;
  /** The item as the next read must see it (a copy: later changes of the engine's object don't leak in). */
  json: string | undefined;
  uid: string | undefined;
  write: UnitWrite;
}

/** The engine models whose writes the resume request batches (its only PostgreSQL writes). */
export const UNIT_OF_WORK_MODELS: ReadonlySet<string> = new Set(['Grant', 'Session']);

export class UnitOfWork {
  readonly #models: ReadonlySet<string>;
  readonly #entries = new Map<string, Entry>();
  readonly #joined: UnitWrite[] = [];
  #db: Knex | undefined;
  #closed = false;

  constructor(models: ReadonlySet<string> = UNIT_OF_WORK_MODELS) {
    this.#models = models;
  }

  /** Whether a write of `model` is queued here (false once the unit was flushed). */
  defers(model: string): boolean {
    return !this.#closed && this.#models.has(model);
  }

  /** Queues the write of one item; a later write of the same item replaces it. */
  queue(db: Knex, model: string, key: string, item: { payload?: AdapterPayload; uid?: string }, write: UnitWrite): void {
    this.#bind(db);
    const id = `${model}\u0000${key}`;
    this.#entries.delete(id);
    this.#entries.set(id, { model, json: item.payload ? JSON.stringify(item.payload) : undefined, uid: item.uid, write });
  }

  /** Adds another write (IAM's rows of the same request) to the unit's transaction. */
  join(db: Knex, write: UnitWrite): void {
    if (this.#closed) throw new TypeError('the unit of work was already flushed');
    this.#bind(db);
    this.#joined.push(write);
  }

  /** The queued state of an item, or undefined when nothing of it is queued (read the database). */
  lookup(model: string, key: string): QueuedItem | undefined {
    const e = this.#entries.get(`${model}\u0000${key}`);
    return e && { payload: e.json === undefined ? undefined : (JSON.parse(e.json) as AdapterPayload) };
  }

  /** The queued item of `model` saved with this `uid` (the engine's Session.findByUid), if any. */
  lookupByUid(model: string, uid: string): QueuedItem | undefined {
    let found: QueuedItem | undefined;
    for (const e of this.#entries.values()) {
      if (e.model === model && e.uid === uid && e.json !== undefined) found = { payload: JSON.parse(e.json) as AdapterPayload };
    }
    return found;
  }

  /** How many writes are waiting. */
  get size(): number {
    return this.#entries.size + this.#joined.length;
  }

  /**
   * Runs every queued write in one transaction (none: no transaction at all) and closes the
   * unit. Rejects when the transaction fails; nothing of it is then stored.
   */
  async flush(): Promise<number> {
    this.#closed = true;
    const writes = [...[...this.#entries.values()].map((e) => e.write), ...this.#joined];
    this.#entries.clear();
    this.#joined.length = 0;
    if (writes.length === 0 || !this.#db) return 0;
    await this.#db.transaction(async (trx) => {
      for (const write of writes) await write(trx);
    });
    return writes.length;
  }

  /** Closes the unit without writing anything (the request failed before it could be flushed). */
  discard(): void {
    this.#closed = true;
    this.#entries.clear();
    this.#joined.length = 0;
  }

  #bind(db: Knex): void {
    // Every adapter shares the service's pool; two pools would need two transactions.
    if (this.#db && this.#db !== db) throw new TypeError('one unit of work cannot span two database pools');
    this.#db = db;
  }
}

const current = new AsyncLocalStorage<UnitOfWork>();

/** Runs `fn` with `unit` open: the PostgreSQL adapter queues its deferred models' writes there. */
export function runInUnitOfWork<T>(unit: UnitOfWork, fn: () => Promise<T>): Promise<T> {
  return current.run(unit, fn);
}

/** The unit of work of the running request, if one is open. */
export function currentUnitOfWork(): UnitOfWork | undefined {
  return current.getStore();
}
