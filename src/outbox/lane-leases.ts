import type { Knex } from 'knex';
import pg from 'pg';
import { InternalError } from '../errors/app-error.ts';
import type { Logger } from '../observability/logger.ts';
import { LANE_COUNT } from './lanes.ts';

// Advisory lock spaces (two-int4 form, so they never collide with single-bigint locks used elsewhere).
const LANE_LOCK_CLASS = 0x4f42_0001;
const MEMBER_LOCK_CLASS = 0x4f42_0002;
const MEMBER_SLOTS = 1024;

export interface LaneLeasesOptions {
  db: Knex;
  instanceId: string;
  logger: Logger;
  /** How often the lane share is recomputed (an instance joining or dying is noticed this fast). */
  rebalanceIntervalMs?: number;
}

/**
 * Which lanes this relay instance may publish. Locks are session-level advisory locks on one
 * dedicated connection: if the instance dies or its connection drops, PostgreSQL releases them
 * and the survivors pick the lanes up on their next rebalance. The same session runs the claim
 * transactions, so a batch never outlives the lease it was claimed under.
 *
 * Fair share: each instance also holds one "member" lock; the number of members, read from
 * pg_locks, gives every instance a target of ceil(lanes / members). An instance above target
 * lets lanes go, one below takes free ones, so a new instance gets work within one interval.
 */
export class LaneLeases {
  readonly #opts: LaneLeasesOptions;
  readonly #held = new Set<number>();
  #session: pg.Client | undefined;
  #broken = false;
  #nextRebalanceAt = 0;
  #slot = -1;

  constructor(opts: LaneLeasesOptions) {
    this.#opts = opts;
  }

  /** The dedicated session; only valid after `acquire()` returned. */
  get session(): pg.Client {
    if (!this.#session || this.#broken) throw new InternalError('outbox lane session is not open');
    return this.#session;
  }

  held(): number[] {
    return [...this.#held].sort((a, b) => a - b);
  }

  /** Opens the session when needed and, when due, moves towards this instance's share. */
  async acquire(): Promise<number[]> {
    const session = await this.#ensureSession();
    if (Date.now() >= this.#nextRebalanceAt) {
      await this.#rebalance(session);
      this.#nextRebalanceAt = Date.now() + (this.#opts.rebalanceIntervalMs ?? 1_000);
    }
    return this.held();
  }

  /** Gives every lane back by ending the session (also the only clean-up a broken session needs). */
  async release(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    this.#held.clear();
    this.#slot = -1;
    this.#nextRebalanceAt = 0;
    if (session) await session.end().catch(() => undefined);
  }

  async #ensureSession(): Promise<pg.Client> {
    if (this.#session && !this.#broken) return this.#session;
    await this.release();
    this.#broken = false;
    const base = connectionConfig(this.#opts.db);
    const session = new pg.Client({
      ...base,
      application_name: `${base.application_name ?? 'infranotes-iam'}-outbox-relay`.slice(0, 63),
      keepAlive: true,
    });
    // Without a listener a dropped connection would crash the process; mark it and reconnect.
    session.on('error', (err) => {
      this.#broken = true;
      this.#opts.logger.warn({ err }, 'outbox lane session lost; lanes released');
    });
    await session.connect();
    this.#session = session;
    try {
      this.#slot = await this.#joinMembers(session);
    } catch (err) {
      await this.release();
      throw err;
    }
    return session;
  }

  async #joinMembers(session: pg.Client): Promise<number> {
    const start = Math.floor(Math.random() * MEMBER_SLOTS);
    for (let i = 0; i < MEMBER_SLOTS; i++) {
      const slot = (start + i) % MEMBER_SLOTS;
      if (await tryLock(session, MEMBER_LOCK_CLASS, slot)) return slot;
    }
    throw new InternalError(`more than ${MEMBER_SLOTS} outbox relay instances on one database`);
  }

  async #rebalance(session: pg.Client): Promise<void> {
    const { rows } = await session.query<{ members: number; taken: number[] }>(
      `select
         (select count(*)::int from pg_locks l
           where l.locktype = 'advisory' and l.database = d.oid and l.classid = $1::oid and l.objsubid = 2 and l.granted) as members,
         coalesce((select array_agg(l.objid::bigint::int) from pg_locks l
           where l.locktype = 'advisory' and l.database = d.oid and l.classid = $2::oid and l.objsubid = 2 and l.granted
             and l.pid <> pg_backend_pid()), '{}') as taken
       from pg_database d where d.datname = current_database()`,
      [MEMBER_LOCK_CLASS, LANE_LOCK_CLASS],
    );
    const members = Math.max(1, rows[0]?.members ?? 1);
    const taken = new Set(rows[0]?.taken ?? []);
    const target = Math.ceil(LANE_COUNT / members);
    const before = this.#held.size;

    if (this.#held.size > target) {
      const surplus = this.held().slice(target);
      await session.query('select pg_advisory_unlock($1, l) from unnest($2::int[]) as l', [LANE_LOCK_CLASS, surplus]);
      for (const lane of surplus) this.#held.delete(lane);
    }
    // Start where this member's slot points so instances do not all contend for lane 0 first.
    const offset = (this.#slot * 7) % LANE_COUNT;
    for (let i = 0; i < LANE_COUNT && this.#held.size < target; i++) {
      const lane = (offset + i) % LANE_COUNT;
      if (this.#held.has(lane) || taken.has(lane)) continue;
      if (await tryLock(session, LANE_LOCK_CLASS, lane)) this.#held.add(lane);
    }
    if (this.#held.size !== before) {
      this.#opts.logger.debug({ lanes: this.#held.size, members, target }, 'outbox lanes rebalanced');
    }
  }
}

async function tryLock(session: pg.Client, lockClass: number, id: number): Promise<boolean> {
  const { rows } = await session.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [lockClass, id]);
  return rows[0]?.ok === true;
}

/** The relay's own session reuses the pool's connection settings (URL, statement timeout). */
function connectionConfig(db: Knex): pg.ClientConfig {
  const connection = (db.client as { config?: { connection?: unknown } }).config?.connection;
  if (typeof connection === 'string') return { connectionString: connection };
  if (connection !== null && typeof connection === 'object') return { ...(connection as pg.ClientConfig) };
  throw new InternalError('the outbox relay needs a static database connection configuration');
}
