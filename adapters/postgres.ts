import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import type { Knex } from '../src/db/knex.ts';
import { fromStored, isCreateOnly, replayDetected, storageKey, toStored } from './models.ts';
import { currentUnitOfWork } from './unit-of-work.ts';

/**
 * Durable oidc-provider models in `oidc_models` (Grant, Session, RefreshToken, InitialAccessToken,
 * RegistrationAccessToken and anything not routed elsewhere). Expiry is PostgreSQL's clock
 * (`now()`), so instances with skewed clocks agree; expired rows read as absent until purged.
 * Inside an open unit of work (unit-of-work.ts) the writes of the models it defers are queued for
 * its one transaction, and reads of those items are answered from the queue.
 */

const LIVE = '(expires_at is null or expires_at > now())';

const UPSERT = `
  insert into oidc_models as m (model, id, payload, grant_id, uid, user_code, account_id, expires_at, consumed_at)
  values (?, ?, ?::jsonb, ?, ?, ?, ?,
          now() + make_interval(secs => ?::double precision),
          to_timestamp(?::double precision))
  on conflict (model, id) do update set
    payload = excluded.payload,
    grant_id = excluded.grant_id,
    uid = excluded.uid,
    user_code = excluded.user_code,
    account_id = excluded.account_id,
    expires_at = excluded.expires_at,
    -- consumption is one-way: a re-save never revives a consumed item (unless the old row had expired)
    consumed_at = case when m.expires_at is not null and m.expires_at <= now() then excluded.consumed_at
                       else coalesce(m.consumed_at, excluded.consumed_at) end`;

/** Create-only models: a live row under the same id is left alone (0 rows) and the write is refused. */
const INSERT_ONLY = `${UPSERT}
  where m.expires_at is not null and m.expires_at <= now()`;

const DELETE = 'delete from oidc_models where model = ? and id = ?';

const SELECT = `select payload, extract(epoch from consumed_at)::double precision as consumed from oidc_models`;

/**
 * PostgreSQL text and jsonb cannot hold U+0000, but request parameters the engine keeps (a
 * `state` of "%00", say) may contain it. Such payloads are stored wrapped as base64 JSON, so
 * hostile input is kept verbatim instead of failing the request with a 500.
 */
const WRAPPED = '$iam_b64';
function encodePayload(payload: Record<string, unknown>): string {
  const json = JSON.stringify(payload);
  return json.includes('\\u0000') ? JSON.stringify({ [WRAPPED]: Buffer.from(json).toString('base64') }) : json;
}
function decodePayload(stored: Record<string, unknown>): Record<string, unknown> {
  const wrapped = stored[WRAPPED];
  return typeof wrapped === 'string' ? (JSON.parse(Buffer.from(wrapped, 'base64').toString('utf8')) as Record<string, unknown>) : stored;
}

interface Row {
  payload: Record<string, unknown>;
  consumed: number | null;
}

export class PostgresAdapter implements Adapter {
  readonly #model: string;
  readonly #db: Knex;

  constructor(model: string, db: Knex) {
    this.#model = model;
    this.#db = db;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const item = toStored(this.#model, id, payload);
    const createOnly = isCreateOnly(this.#model);
    const bindings = [
      this.#model,
      item.key,
      encodePayload(item.payload),
      item.grantId ?? null,
      item.uid ?? null,
      item.userCode ?? null,
      item.accountId ?? null,
      typeof expiresIn === 'number' ? expiresIn : null,
      item.consumed ?? null,
    ];
    const unit = currentUnitOfWork();
    if (unit?.defers(this.#model) && !createOnly) {
      unit.queue(this.#db, this.#model, item.key, { payload: item.payload as AdapterPayload, uid: item.uid }, async (trx) => {
        await trx.raw(UPSERT, bindings);
      });
      return;
    }
    const res = await this.#db.raw(createOnly ? INSERT_ONLY : UPSERT, bindings);
    if (createOnly && (res as { rowCount: number }).rowCount !== 1) throw replayDetected(this.#model);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const queued = currentUnitOfWork()?.lookup(this.#model, storageKey(this.#model, id));
    if (queued) return queued.payload && fromStored(queued.payload, id, undefined);
    const row = await this.#one(`${SELECT} where model = ? and id = ? and ${LIVE}`, [this.#model, storageKey(this.#model, id)]);
    return row && fromStored(decodePayload(row.payload), id, row.consumed === null ? undefined : Math.floor(row.consumed));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const queued = currentUnitOfWork()?.lookupByUid(this.#model, uid);
    if (queued?.payload) return fromStored(queued.payload, undefined, undefined);
    const row = await this.#one(`${SELECT} where uid = ? and model = ? and ${LIVE} limit 1`, [uid, this.#model]);
    return row && fromStored(decodePayload(row.payload), undefined, row.consumed === null ? undefined : Math.floor(row.consumed));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const row = await this.#one(`${SELECT} where user_code = ? and model = ? and ${LIVE} limit 1`, [userCode, this.#model]);
    return row && fromStored(decodePayload(row.payload), undefined, row.consumed === null ? undefined : Math.floor(row.consumed));
  }

  /** Compare-and-set: exactly one caller marks a live item consumed; every other one gets invalid_grant. */
  async consume(id: string): Promise<void> {
    const res = await this.#db.raw(
      `update oidc_models set consumed_at = now() where model = ? and id = ? and consumed_at is null and ${LIVE}`,
      [this.#model, storageKey(this.#model, id)],
    );
    if ((res as { rowCount: number }).rowCount !== 1) {
      throw new errors.InvalidGrant(`${this.#model} already consumed or not found`);
    }
  }

  async destroy(id: string): Promise<void> {
    const bindings = [this.#model, storageKey(this.#model, id)];
    const unit = currentUnitOfWork();
    if (unit?.defers(this.#model)) {
      unit.queue(this.#db, this.#model, storageKey(this.#model, id), {}, async (trx) => {
        await trx.raw(DELETE, bindings);
      });
      return;
    }
    await this.#db.raw(DELETE, bindings);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#db.raw('delete from oidc_models where grant_id = ? and model = ?', [grantId, this.#model]);
  }

  async #one(sql: string, bindings: readonly (string | number | null)[]): Promise<Row | undefined> {
    const res = await this.#db.raw(sql, bindings);
    return (res as { rows: Row[] }).rows[0];
  }
}

export interface PurgeOptions {
  /** Rows are removed only this long after they expired (clock tolerance of the engine). Default 300 s. */
  graceSeconds?: number;
  /** Rows per DELETE statement. Default 5000. */
  batchSize?: number;
}

/** Deletes expired rows in bounded batches (short statements, no long locks); returns the count. */
export async function purgeExpiredModels(db: Knex, opts: PurgeOptions = {}): Promise<number> {
  const grace = opts.graceSeconds ?? 300;
  const batch = opts.batchSize ?? 5000;
  let total = 0;
  for (;;) {
    // `ctid = any(array(...))` plans as a TID scan; `ctid in (select ...)` may fall back to a seq scan.
    const res = await db.raw(
      `delete from oidc_models where ctid = any(array(
         select ctid from oidc_models where expires_at < now() - make_interval(secs => ?::double precision) limit ?))`,
      [grace, batch],
    );
    const n = (res as { rowCount: number }).rowCount;
    total += n;
    if (n < batch) return total;
  }
}

/** The PostgreSQL backend: one adapter per model over a shared Knex pool (owned by the caller). */
export class PostgresBackend {
  readonly #db: Knex;
  readonly #adapters = new Map<string, PostgresAdapter>();

  constructor(db: Knex) {
    this.#db = db;
  }

  adapterFor(model: string): PostgresAdapter {
    let a = this.#adapters.get(model);
    if (!a) {
      a = new PostgresAdapter(model, this.#db);
      this.#adapters.set(model, a);
    }
    return a;
  }

  purgeExpired(opts?: PurgeOptions): Promise<number> {
    return purgeExpiredModels(this.#db, opts);
  }
}
