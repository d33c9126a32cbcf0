import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { lockId } from '../db/locks.ts';
import { AppError } from '../errors/index.ts';

/**
 * `Idempotency-Key` on creates (ADR-0017). The record is written in the transaction of the
 * create, under a transaction-scoped advisory lock on (caller, key): a concurrent retry waits
 * and then replays, a retry after a crash before commit finds nothing and runs again, and a
 * replay is byte-for-byte the first success. Failures are not stored: a failed create can be
 * retried with the same key once its cause is fixed.
 */

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export interface IdempotencySpec {
  /** Caller identity the key is scoped to (`<type>:<subject>`). */
  actor: string;
  key: string;
  tenantId?: string;
  method: string;
  path: string;
  body: unknown;
  ttlSeconds: number;
}

export function requestHash(method: string, path: string, body: unknown): Buffer {
  return createHash('sha256')
    .update(JSON.stringify([method.toUpperCase(), path, canonical(body)]))
    .digest();
}

/** JSON with object members sorted, so `{a,b}` and `{b,a}` are the same request. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * Runs `create` once per (caller, key): returns the stored response when this key already
 * answered the same request, refuses a different request under the same key, otherwise runs
 * `create` and stores what it returns — all inside `trx`.
 */
export async function idempotent(
  trx: Knex.Transaction,
  spec: IdempotencySpec | undefined,
  create: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  if (!spec) return { ...(await create()), replayed: false };
  if (!IDEMPOTENCY_KEY.test(spec.key)) {
    throw new AppError('validation_failed', {
      detail: 'Idempotency-Key must be 1-255 visible ASCII characters',
      invalidParams: [{ name: 'header.idempotency-key', reason: 'malformed' }],
    });
  }
  await trx.raw('select pg_advisory_xact_lock(?)', [lockId(`iam:idempotency:${spec.actor}:${spec.key}`)]);
  const hash = requestHash(spec.method, spec.path, spec.body);
  const existing = await trx('idempotency_keys')
    .where({ actor: spec.actor, key: spec.key })
    .andWhere('expires_at', '>', trx.fn.now())
    .first('request_hash', 'response_status', 'response_body', 'response_headers');
  if (existing) {
    if (!(existing.request_hash as Buffer).equals(hash)) {
      throw new AppError('idempotency_key_reused', {
        detail: 'this Idempotency-Key was first used for a different request; use a new key for a new request',
      });
    }
    return {
      status: existing.response_status as number,
      body: existing.response_body,
      headers: existing.response_headers as Record<string, string>,
      replayed: true,
    };
  }
  const response = await create();
  // An expired record of the same key is replaced: the key starts a new life.
  await trx('idempotency_keys').where({ actor: spec.actor, key: spec.key }).delete();
  await trx('idempotency_keys').insert({
    actor: spec.actor,
    key: spec.key,
    tenant_id: spec.tenantId ?? null,
    method: spec.method.toUpperCase(),
    path: spec.path,
    request_hash: hash,
    response_status: response.status,
    response_body: JSON.stringify(response.body ?? null),
    response_headers: JSON.stringify(response.headers),
    expires_at: trx.raw(`now() + make_interval(secs => ?)`, [spec.ttlSeconds]),
  });
  return { ...response, replayed: false };
}

/** Deletes expired records in short batches; safe on several instances at once. */
export async function purgeExpiredIdempotencyKeys(db: Knex, batchSize = 5_000): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.raw<{ rowCount: number | null }>(
      `delete from idempotency_keys where id in (
         select id from idempotency_keys where expires_at < now() limit ? for update skip locked)`,
      [batchSize],
    );
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) return total;
  }
}
