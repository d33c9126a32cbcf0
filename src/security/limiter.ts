import type { Logger } from '../observability/logger.ts';
import type { KeyValueStore } from '../store/types.ts';

/**
 * Exponential-backoff limiter over the KeyValueStore (ADR-0012). Per key it keeps a failure count
 * (forgotten `windowSeconds` after the first failure of a series) and a "blocked until" marker.
 * The first `freeFailures` failures cost nothing; the n-th failure after them imposes a wait of
 * `baseDelaySeconds · 2^(n-1)`, capped at `maxDelaySeconds`. Past the free failures only one
 * attempt per key is let through at a time (an atomic gate), so a parallel burst cannot slip
 * more guesses in than a sequence could.
 *
 * It fails closed: when the store cannot answer, `check` refuses with reason `unavailable`.
 */
export interface BackoffPolicy {
  /** Failures allowed before any wait. */
  freeFailures: number;
  /** Wait after the first failure beyond the free ones; doubles with each further failure. */
  baseDelaySeconds: number;
  /** Longest wait. */
  maxDelaySeconds: number;
  /** Failures are remembered this long after the first one of a series. */
  windowSeconds: number;
  /**
   * Count the attempt when it is checked, before its outcome is known: the count is then exact
   * under parallel bursts (N parallel attempts get N distinct counts). For per-account keys,
   * whose count a success resets; for request budgets (every request counts).
   */
  chargeOnCheck: boolean;
  /** A success forgets the key's failures (per-account keys). Per-source keys keep counting. */
  resetOnSuccess: boolean;
}

/** One limited dimension of an attempt: which policy, and the key within it (no personal data in clear). */
export interface LimitKey {
  policy: string;
  key: string;
}

export type LimitDecision =
  | { allowed: true }
  | { allowed: false; retryAfterSeconds: number; reason: 'backoff' | 'unavailable'; policy?: string };

export interface LimiterOptions {
  store: KeyValueStore;
  policies: Readonly<Record<string, BackoffPolicy>>;
  /** Key namespace inside the store's own prefix. */
  namespace?: string;
  /** `retryAfterSeconds` when the store is unavailable. */
  unavailableRetrySeconds?: number;
  logger?: Logger;
  /** Clock for the stored "blocked until" values (tests). */
  now?: () => number;
}

export interface KeyStatus {
  failures: number;
  /** Seconds until the next attempt is let through (0 = now). */
  blockedForSeconds: number;
}

/** The wait (ms) imposed by the `failures`-th failure of a series. */
export function backoffDelayMs(policy: BackoffPolicy, failures: number): number {
  const beyond = failures - policy.freeFailures;
  if (beyond <= 0) return 0;
  const seconds = Math.min(policy.baseDelaySeconds * 2 ** Math.min(beyond - 1, 40), policy.maxDelaySeconds);
  return Math.max(1, Math.round(seconds * 1000));
}

const toSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export class BackoffLimiter {
  readonly #store: KeyValueStore;
  readonly #policies: Readonly<Record<string, BackoffPolicy>>;
  readonly #ns: string;
  readonly #unavailableRetry: number;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;

  constructor(opts: LimiterOptions) {
    this.#store = opts.store;
    this.#policies = opts.policies;
    this.#ns = opts.namespace ?? 'rl';
    this.#unavailableRetry = opts.unavailableRetrySeconds ?? 5;
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
  }

  #policy(k: LimitKey): BackoffPolicy {
    const p = this.#policies[k.policy];
    if (!p) throw new TypeError(`unknown limiter policy "${k.policy}"`);
    return p;
  }
  #failKey(k: LimitKey) {
    return `${this.#ns}:${k.policy}:${k.key}:f`;
  }
  #blockKey(k: LimitKey) {
    return `${this.#ns}:${k.policy}:${k.key}:b`;
  }

  /**
   * May an attempt proceed? Refuses while any key is in its wait, and past the free failures lets
   * one attempt per key through per wait. Never throws for store errors: it refuses instead.
   */
  async check(keys: readonly LimitKey[]): Promise<LimitDecision> {
    for (const k of keys) this.#policy(k);
    try {
      const now = this.#now();
      // 1. Any key still waiting: refuse without touching anything.
      const blocks = await Promise.all(keys.map((k) => this.#store.get(this.#blockKey(k))));
      let wait = 0;
      let which: string | undefined;
      blocks.forEach((raw, i) => {
        const left = raw === null ? 0 : Number(raw) - now;
        if (left > wait) {
          wait = left;
          which = keys[i]?.policy;
        }
      });
      if (wait > 0) return { allowed: false, retryAfterSeconds: toSeconds(wait), reason: 'backoff', policy: which };

      // 2. Take what the attempt needs: per-source gates first, then the charged (per-account)
      //    keys, so a refusal there can hand the gates back.
      const ordered = [...keys].sort((a, b) => Number(this.#policy(a).chargeOnCheck) - Number(this.#policy(b).chargeOnCheck));
      const gated: LimitKey[] = [];
      for (const k of ordered) {
        const p = this.#policy(k);
        const n = p.chargeOnCheck
          ? await this.#store.incr(this.#failKey(k), p.windowSeconds * 1000)
          : Number((await this.#store.get(this.#failKey(k))) ?? 0) + 1;
        const delay = backoffDelayMs(p, n);
        if (delay === 0) continue;
        // Past the free failures: this attempt holds the wait its failure would impose, so
        // concurrent attempts are refused until it has been decided.
        if (await this.#store.setIfAbsent(this.#blockKey(k), String(now + delay), delay)) {
          gated.push(k);
          continue;
        }
        await Promise.all(gated.map((g) => this.#store.del(this.#blockKey(g))));
        const raw = await this.#store.get(this.#blockKey(k));
        const left = raw === null ? delay : Math.max(0, Number(raw) - now);
        return { allowed: false, retryAfterSeconds: toSeconds(left), reason: 'backoff', policy: k.policy };
      }
      return { allowed: true };
    } catch (err) {
      this.#logger?.warn({ err: (err as Error).message }, 'rate limiter store unavailable: refusing the attempt');
      return { allowed: false, retryAfterSeconds: this.#unavailableRetry, reason: 'unavailable' };
    }
  }

  /** Records a failed attempt: counts it (unless `check` already did) and starts the wait it earns. */
  async recordFailure(keys: readonly LimitKey[]): Promise<void> {
    for (const k of keys) this.#policy(k);
    await this.#bestEffort('recordFailure', async () => {
      const now = this.#now();
      await Promise.all(
        keys.map(async (k) => {
          const p = this.#policy(k);
          const n = p.chargeOnCheck
            ? Number((await this.#store.get(this.#failKey(k))) ?? 0)
            : await this.#store.incr(this.#failKey(k), p.windowSeconds * 1000);
          const delay = backoffDelayMs(p, n);
          if (delay > 0) await this.#store.set(this.#blockKey(k), String(now + delay), delay);
        }),
      );
    });
  }

  /** Records a successful attempt: keys whose policy resets on success forget their failures. */
  async recordSuccess(keys: readonly LimitKey[]): Promise<void> {
    const resettable = keys.filter((k) => this.#policy(k).resetOnSuccess);
    await this.#bestEffort('recordSuccess', () => this.#clear(resettable));
  }

  /** Forgets the keys entirely (password reset, administrative unlock). */
  async reset(keys: readonly LimitKey[]): Promise<void> {
    for (const k of keys) this.#policy(k);
    await this.#bestEffort('reset', () => this.#clear(keys));
  }

  /** Failure count and remaining wait of one key (administration, tests). Throws when the store is down. */
  async status(k: LimitKey): Promise<KeyStatus> {
    this.#policy(k);
    const [f, b] = await Promise.all([this.#store.get(this.#failKey(k)), this.#store.get(this.#blockKey(k))]);
    const left = b === null ? 0 : Number(b) - this.#now();
    return { failures: Number(f ?? 0), blockedForSeconds: left > 0 ? toSeconds(left) : 0 };
  }

  async #clear(keys: readonly LimitKey[]): Promise<void> {
    await Promise.all(keys.flatMap((k) => [this.#store.del(this.#failKey(k)), this.#store.del(this.#blockKey(k))]));
  }

  // Recording must not turn a decided attempt into an error: when the store is down the next
  // `check` refuses anyway, and the durable per-account counter (PostgreSQL) still counts.
  async #bestEffort(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#logger?.warn({ err: (err as Error).message }, `rate limiter ${what} failed`);
    }
  }
}
