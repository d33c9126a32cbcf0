import type { JWK } from 'jose';
import type { Knex } from '../db/knex.ts';
import { lockId } from '../db/locks.ts';
import type { PrivateKeyEnvelope } from './envelope.ts';
import type { KeyPurpose, KeyState, SigningKey } from './lifecycle.ts';

/**
 * The only module that speaks SQL for `signing_keys`. Every writer serialises on one
 * transaction-scoped advisory lock, so the job can run on every instance and still act once.
 */

/** Transaction-scoped advisory lock every signing-key writer takes (the job try-locks it). */
export const KEY_LOCK_NAME = 'iam:signing-keys';
const KEY_LOCK_ID = lockId(KEY_LOCK_NAME);

const TABLE = 'signing_keys';

interface Row {
  id: string;
  kid: string;
  purpose: KeyPurpose;
  alg: string;
  state: KeyState;
  public_jwk: JWK;
  private_key_envelope: PrivateKeyEnvelope | null;
  signer: string;
  created_at: Date;
  activates_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
  remove_after: Date | null;
  removed_at: Date | null;
  revoked_at: Date | null;
  revoke_reason: string | null;
}

const fromRow = (r: Row): SigningKey => ({
  id: r.id,
  kid: r.kid,
  purpose: r.purpose,
  alg: r.alg,
  state: r.state,
  publicJwk: r.public_jwk,
  envelope: r.private_key_envelope,
  signer: r.signer,
  createdAt: r.created_at,
  activatesAt: r.activates_at,
  activatedAt: r.activated_at,
  retiredAt: r.retired_at,
  removeAfter: r.remove_after,
  removedAt: r.removed_at,
  revokedAt: r.revoked_at,
  revokeReason: r.revoke_reason,
});

export async function selectKeys(db: Knex | Knex.Transaction, opts: { includeRemoved?: boolean } = {}): Promise<SigningKey[]> {
  const q = db<Row>(TABLE).select('*').orderBy(['purpose', 'created_at', 'kid']);
  if (!opts.includeRemoved) q.whereNot('state', 'removed');
  return (await q).map(fromRow);
}

export type NewKey = Omit<SigningKey, 'id'>;

/** Inserts unless the kid exists; true when inserted. */
export async function insertKey(trx: Knex.Transaction, k: NewKey): Promise<boolean> {
  const rows = await trx(TABLE)
    .insert({
      kid: k.kid,
      purpose: k.purpose,
      alg: k.alg,
      state: k.state,
      // knex would serialise a JS object as a Postgres record literal, not JSON.
      public_jwk: JSON.stringify(k.publicJwk),
      private_key_envelope: k.envelope ? JSON.stringify(k.envelope) : null,
      signer: k.signer,
      created_at: k.createdAt,
      activates_at: k.activatesAt,
      activated_at: k.activatedAt,
      retired_at: k.retiredAt,
      remove_after: k.removeAfter,
      removed_at: k.removedAt,
      revoked_at: k.revokedAt,
      revoke_reason: k.revokeReason,
    })
    .onConflict('kid')
    .ignore()
    .returning('kid');
  return rows.length === 1;
}

export interface KeyPatch {
  state: KeyState;
  activated_at?: Date;
  retired_at?: Date;
  remove_after?: Date;
  removed_at?: Date;
  revoked_at?: Date;
  revoke_reason?: string;
  /** Only ever set to null: private keys are dropped, never replaced. */
  private_key_envelope?: null;
}

/** Moves a key out of `from`; false when it was no longer in that state. */
export async function updateKeyState(trx: Knex.Transaction, kid: string, from: KeyState, patch: KeyPatch): Promise<boolean> {
  const n = await trx(TABLE).where({ kid, state: from }).update(patch);
  return n === 1;
}

/** Runs `fn` in a transaction holding the key lock, or returns `skipped` when another holder has it. */
export async function withKeyLockIfFree<T>(
  db: Knex,
  fn: (trx: Knex.Transaction) => Promise<T>,
): Promise<{ ran: true; result: T } | { ran: false }> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw<{ rows: { locked: boolean }[] }>('select pg_try_advisory_xact_lock(?::bigint) as locked', [KEY_LOCK_ID]);
    if (!rows[0]?.locked) return { ran: false } as const;
    return { ran: true, result: await fn(trx) } as const;
  });
}

/** Runs `fn` in a transaction holding the key lock, waiting for it (operator actions must not be skipped). */
export async function withKeyLock<T>(db: Knex, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?::bigint)', [KEY_LOCK_ID]);
    return fn(trx);
  });
}

/** PostgreSQL NOTIFY channel announcing committed key transitions. */
export const KEY_CHANGE_CHANNEL = 'iam_signing_keys_changed';
