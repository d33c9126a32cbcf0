import { recordAudit } from '../audit/index.ts';
import type { Knex } from '../db/knex.ts';
import { InternalError } from '../errors/index.ts';
import { enqueueEvent } from '../outbox/index.ts';
import { kekId, sealPrivateKey } from './envelope.ts';
import { KeyError } from './errors.ts';
import { generateSigningKey } from './generate.ts';
import {
  addSeconds,
  type KeyChange,
  type KeyPurpose,
  type KeyState,
  type KeyStep,
  type KeyTimings,
  planMaintenance,
  planRevocation,
  planRotation,
  type SigningKey,
} from './lifecycle.ts';
import { insertKey, KEY_CHANGE_CHANNEL, type KeyPatch, selectKeys, updateKeyState, withKeyLock, withKeyLockIfFree } from './store.ts';
import { type KeySummary, toSummary } from './views.ts';

/** What every write needs: the KEK to seal new keys, the schedule, and one `now` per transaction. */
export interface KeyWriteContext {
  db: Knex;
  kek: Buffer;
  timings: KeyTimings;
  now: () => Date;
}

type StateStep = Exclude<KeyStep, { kind: 'create' }>;

function transition(step: StateStep, now: Date, t: KeyTimings): { from: KeyState; patch: KeyPatch } {
  switch (step.kind) {
    case 'activate':
      return { from: 'pending', patch: { state: 'active', activated_at: now } };
    case 'retire':
      return { from: 'active', patch: { state: 'retired', retired_at: now, remove_after: addSeconds(now, t.retireGraceS) } };
    case 'remove':
      // A removed key verifies nothing any more, so its private half has no reason to exist.
      return { from: 'retired', patch: { state: 'removed', removed_at: now, private_key_envelope: null } };
    case 'revoke':
      return { from: step.from, patch: { state: 'revoked', revoked_at: now, revoke_reason: step.reason, private_key_envelope: null } };
  }
}

async function applyStep(trx: Knex.Transaction, step: KeyStep, kek: Buffer, now: Date, t: KeyTimings): Promise<KeyChange> {
  if (step.kind === 'create') {
    const g = await generateSigningKey(step.purpose);
    const active = step.state === 'active';
    const inserted = await insertKey(trx, {
      kid: g.kid,
      purpose: step.purpose,
      alg: g.alg,
      state: step.state,
      publicJwk: g.publicJwk,
      envelope: sealPrivateKey(kek, g.kid, g.privateKey.export({ format: 'der', type: 'pkcs8' })),
      signer: 'local',
      createdAt: now,
      activatesAt: active ? now : addSeconds(now, t.publishLeadS),
      activatedAt: active ? now : null,
      retiredAt: null,
      removeAfter: null,
      removedAt: null,
      revokedAt: null,
      revokeReason: null,
    });
    if (!inserted) throw new InternalError(`generated signing key ${g.kid} collides with an existing kid`);
    return { kid: g.kid, purpose: step.purpose, from: null, to: step.state };
  }
  const { from, patch } = transition(step, now, t);
  // Writers hold the key lock, so the row cannot have moved since it was read.
  if (!(await updateKeyState(trx, step.kid, from, patch)))
    throw new InternalError(`signing key ${step.kid} left state ${from} under the key lock`);
  return { kid: step.kid, purpose: step.purpose, from, to: patch.state };
}

/**
 * New keys must be sealed under the KEK the existing ones use: a process started with the wrong
 * KEK would otherwise write keys no correctly configured instance can open.
 */
export function assertSameKek(keys: SigningKey[], kek: Buffer): void {
  const mine = kekId(kek);
  const other = keys.find((k) => k.envelope && k.envelope.kek_id !== mine);
  if (other?.envelope) {
    throw new KeyError(
      'kek_mismatch',
      `signing keys in this database are encrypted under KEK ${other.envelope.kek_id} but the configured KEK is ${mine}: refusing to create keys under a different KEK`,
    );
  }
}

async function applySteps(
  trx: Knex.Transaction,
  steps: KeyStep[],
  ctx: KeyWriteContext,
  now: Date,
  keys: SigningKey[],
): Promise<KeyChange[]> {
  if (steps.some((s) => s.kind === 'create')) assertSameKek(keys, ctx.kek);
  const changes: KeyChange[] = [];
  for (const step of steps) changes.push(await applyStep(trx, step, ctx.kek, now, ctx.timings));
  if (changes.length) await announceChanges(trx, changes);
  return changes;
}

/**
 * Every transition is an audit event and a `key.*` domain event in the same transaction, and a
 * NOTIFY (delivered on commit) lets every instance — and changes made by the CLI — refresh at once
 * instead of at the next poll.
 */
const EVENT_BY_STATE: Record<KeyChange['to'], string> = {
  pending: 'published',
  active: 'activated',
  retired: 'retired',
  removed: 'removed',
  revoked: 'revoked',
};

async function announceChanges(trx: Knex.Transaction, changes: KeyChange[]): Promise<void> {
  for (const c of changes) {
    const event = EVENT_BY_STATE[c.to];
    await recordAudit(trx, {
      action: `key.${event}`,
      actor: { type: 'system', id: 'signing-keys' },
      target: { type: 'signing_key', id: c.kid },
      details: { purpose: c.purpose, from: c.from, to: c.to },
    });
    // Keyed by purpose: one key set's transitions stay in order (contracts/kafka-events.md).
    await enqueueEvent(trx, {
      type: `com.infranotes.iam.key.${event}`,
      key: c.purpose,
      data: { kid: c.kid, purpose: c.purpose, from: c.from, to: c.to },
    });
  }
  await trx.raw('select pg_notify(?, ?)', [KEY_CHANGE_CHANNEL, String(changes.length)]);
}

/**
 * The scheduled job (also the bootstrap). Runs where the lock is free and returns null where
 * another instance holds it, so N instances perform each promotion exactly once.
 */
export async function runMaintenance(ctx: KeyWriteContext): Promise<KeyChange[] | null> {
  const out = await withKeyLockIfFree(ctx.db, async (trx) => {
    const now = ctx.now();
    const keys = await selectKeys(trx);
    return applySteps(trx, planMaintenance(keys, now, ctx.timings), ctx, now, keys);
  });
  return out.ran ? out.result : null;
}

export async function rotateKey(ctx: KeyWriteContext, purpose: KeyPurpose, opts: { immediate?: boolean } = {}): Promise<KeyChange[]> {
  return withKeyLock(ctx.db, async (trx) => {
    const now = ctx.now();
    const keys = await selectKeys(trx);
    return applySteps(trx, planRotation(keys, purpose, opts), ctx, now, keys);
  });
}

export async function revokeKey(ctx: KeyWriteContext, kid: string, reason: string): Promise<KeyChange[]> {
  if (!reason.trim()) throw new TypeError('a revocation needs a reason');
  return withKeyLock(ctx.db, async (trx) => {
    const now = ctx.now();
    const keys = await selectKeys(trx, { includeRemoved: true });
    const key = keys.find((k) => k.kid === kid);
    if (!key) throw new KeyError('key_not_found', `no signing key with kid ${kid}`);
    if (key.state === 'revoked') throw new KeyError('key_already_revoked', `signing key ${kid} is already revoked`);
    return applySteps(trx, planRevocation(keys, kid, reason.trim()), ctx, now, keys);
  });
}

/** Operator view of every key, removed ones included (no KEK needed). */
export async function listKeys(db: Knex, now: Date = new Date()): Promise<KeySummary[]> {
  return (await selectKeys(db, { includeRemoved: true })).map((k) => toSummary(k, now));
}
