import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../src/audit/index.ts';
import { applyPasswordVerified, type PasswordVerifiedWrites } from '../src/identity/index.ts';
import type { Logger } from '../src/observability/logger.ts';
import type { ClaimedWrites } from '../src/oidc/unit-of-work.ts';
import type { KeyValueStore } from '../src/store/types.ts';

/**
 * IAM's writes of a completed sign-in — the password's rows (counter reset, `auth.password.verified`),
 * `last_login_at` and `auth.signin.succeeded` — as data, left in the shared store under the
 * interaction id when the login is handed to the engine, and written in the resume request's one
 * transaction with the engine's Session and Grant (src/oidc/unit-of-work.ts): one PostgreSQL write
 * transaction per completed login (DESIGN §7, ADR-0015).
 *
 * They are never lost when the resume does not come (the browser closed, a script that only checks
 * a password): each is also entered in a due index, and `sweep()` — run every few seconds on every
 * instance — writes whatever is still waiting once its grace period is over, marked as written
 * late with the time it happened. The resume and the sweep claim a record with an atomic GETDEL,
 * so it is written exactly once. Failures are never deferred (ADR-0012), and neither is a rehash
 * (a password hash is never put into the shared store).
 */

export interface SignInWrites {
  /** The interaction that completed. */
  interaction: string;
  userId: string;
  /** When the login completed (ISO 8601). */
  at: string;
  /** The password's writes, if the password step completed the login. */
  password: PasswordVerifiedWrites[];
  /** `auth.signin.succeeded`. */
  audit: AuditEvent;
}

/** Writes a sign-in's rows inside the caller's transaction; `late` = by the sweep, after the fact. */
export async function applySignInWrites(trx: Knex.Transaction, w: SignInWrites, late = false): Promise<void> {
  const mark = (e: AuditEvent): AuditEvent => (late ? { ...e, details: { ...e.details, written_late: true, occurred_at: w.at } } : e);
  for (const p of w.password) await applyPasswordVerified(trx, { ...p, audit: mark(p.audit) });
  // A late write never moves the last sign-in backwards.
  await trx('users')
    .where({ id: w.userId })
    .update({ last_login_at: trx.raw('greatest(last_login_at, ?::timestamptz)', [w.at]) });
  await recordAudit(trx, mark(w.audit));
}

export interface SignInWriteQueue {
  /**
   * Leaves the writes for the resume of `w.interaction`. Rejects when the store fails or a record of
   * the interaction is already waiting: the caller then writes them at once.
   */
  leave(w: SignInWrites): Promise<void>;
  /** The resume's claim (exactly once: the sweep gets nothing afterwards). */
  claim(interaction: string): Promise<ClaimedWrites | undefined>;
  /** Writes every record whose grace period is over; returns how many. */
  sweep(): Promise<number>;
}

export interface SignInWriteQueueOptions {
  db: Knex;
  store: KeyValueStore;
  logger: Logger;
  /** How long a record waits for its resume before the sweep writes it. Default 30 s. */
  graceMs?: number;
  /** How long a record outlives its grace (sweeps missed while no instance ran). Default 2 h. */
  keepMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** Width of one due bucket: a sweep reads the buckets that ended since the last one. */
const BUCKET_MS = 5_000;

const recordKey = (uid: string) => `signin-writes:${uid}`;
const countKey = (bucket: number) => `signin-writes:due:${bucket}`;
const slotKey = (bucket: number, n: number) => `signin-writes:due:${bucket}:${n}`;

function parse(raw: string): SignInWrites | undefined {
  try {
    const w = JSON.parse(raw) as SignInWrites;
    return typeof w.userId === 'string' && typeof w.at === 'string' && Array.isArray(w.password) && w.audit ? w : undefined;
  } catch {
    return undefined;
  }
}

export function createSignInWriteQueue(opts: SignInWriteQueueOptions): SignInWriteQueue {
  const { db, store, logger } = opts;
  const graceMs = opts.graceMs ?? 30_000;
  const keepMs = opts.keepMs ?? 2 * 3_600_000;
  const now = opts.now ?? Date.now;
  const ttlMs = graceMs + keepMs + BUCKET_MS;
  // A fresh instance first looks back over everything that may still be waiting.
  let swept = Math.floor((now() - keepMs) / BUCKET_MS) - 1;

  async function leave(w: SignInWrites): Promise<void> {
    const bucket = Math.floor((now() + graceMs) / BUCKET_MS);
    // Never over another record of the interaction (a form submitted twice): that one would be lost.
    if (!(await store.setIfAbsent(recordKey(w.interaction), JSON.stringify(w), ttlMs))) {
      throw new Error('sign-in writes of this interaction are already waiting');
    }
    const n = await store.incr(countKey(bucket), ttlMs);
    await store.set(slotKey(bucket, n), w.interaction, ttlMs);
  }

  async function writeLate(uid: string): Promise<boolean> {
    const raw = await store.getDel(recordKey(uid));
    const w = raw === null ? undefined : parse(raw);
    if (!w) return false;
    try {
      await db.transaction((trx) => applySignInWrites(trx, w, true));
    } catch (err) {
      await leave(w).catch((e: unknown) => logger.error({ err: e, interaction: uid }, 'sign-in writes lost: could not be written or kept'));
      throw err;
    }
    return true;
  }

  return {
    leave,

    async claim(interaction) {
      const raw = await store.getDel(recordKey(interaction));
      const w = raw === null ? undefined : parse(raw);
      if (!w) return undefined;
      return { db, write: (trx) => applySignInWrites(trx, w), restore: () => leave(w) };
    },

    async sweep() {
      const last = Math.floor(now() / BUCKET_MS) - 1;
      let written = 0;
      for (let bucket = swept + 1; bucket <= last; bucket++) {
        const count = Number(await store.get(countKey(bucket))) || 0;
        for (let n = 1; n <= count; n++) {
          const uid = await store.get(slotKey(bucket, n));
          if (uid !== null && (await writeLate(uid))) written += 1;
        }
        // Only a bucket read to the end counts as swept: an error leaves it for the next sweep.
        swept = bucket;
      }
      if (written > 0) logger.info({ written }, 'sign-in writes of logins never resumed written late');
      return written;
    },
  };
}
