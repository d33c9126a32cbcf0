import { createHash } from 'node:crypto';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { Logger } from '../observability/logger.ts';
import type { KeyValueStore } from '../store/types.ts';
import { type AuthFactor, FACTORS } from './factors.ts';
import { BackoffLimiter, type BackoffPolicy, type LimitDecision, type LimitKey } from './limiter.ts';

/**
 * Brute-force throttling of every way in (ADR-0012): one call shape for password, TOTP, email
 * OTP, recovery code, passkey and magic-link requests, limited per account and per source
 * address at once.
 *
 * - Secret-guessing factors: the account budget is per factor (a success of one factor must not
 *   reset another's: knowing the password would otherwise buy unlimited TOTP guesses), charged
 *   when checked and reset by a success; the source budget is shared by all factors and counts
 *   failures only (a success never refunds it, so a valid account cannot launder guesses).
 * - `magic_link`: a request budget — every request is counted when checked, per account and per
 *   source; nothing resets it but its window.
 */
export interface AuthThrottleConfig {
  account_free_failures: number;
  account_backoff_base_s: number;
  account_backoff_max_s: number;
  account_window_s: number;
  ip_free_failures: number;
  ip_backoff_base_s: number;
  ip_backoff_max_s: number;
  ip_window_s: number;
  magic_link_free_requests: number;
  magic_link_backoff_base_s: number;
  magic_link_backoff_max_s: number;
  magic_link_window_s: number;
  limiter_unavailable_retry_s: number;
}

export interface ThrottleSubject {
  factor: AuthFactor;
  /** The login identifier as typed (email) or a stable account key; hashed before use. */
  account?: string | null;
  /** Source address of the request (after trusted-proxy handling). */
  ip?: string | null;
}

export interface AuthThrottle {
  /** May this attempt be evaluated? Fails closed (`reason: 'unavailable'`) when the store is down. */
  check(subject: ThrottleSubject): Promise<LimitDecision>;
  /** The attempt was evaluated and failed. For `magic_link` requests nothing needs recording. */
  recordFailure(subject: ThrottleSubject): Promise<void>;
  /** The attempt succeeded: the account's budget for this factor starts over. */
  recordSuccess(subject: ThrottleSubject): Promise<void>;
  /** Forgets an account's budgets (all factors unless given): password reset, administrative unlock. */
  resetAccount(account: string, factors?: readonly AuthFactor[]): Promise<void>;
  /** The limiter underneath (status queries, tests). */
  readonly limiter: BackoffLimiter;
}

/** The normalised login identifier: trimmed, NFKC, lower-case. */
export function normalizeIdentifier(identifier: string): string {
  return identifier.trim().normalize('NFKC').toLowerCase();
}

/** SHA-256 hex of the normalised identifier: how an account appears in limiter keys and audit details. */
export function identifierHash(identifier: string): string {
  return createHash('sha256').update(normalizeIdentifier(identifier)).digest('hex');
}

/** The address when it is one (audit rows store `inet`), else undefined. */
export function validIp(ip: string | null | undefined): string | undefined {
  return ip && isIP(ip) ? ip : undefined;
}

/**
 * The limiter key of a source address: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64 —
 * one host usually owns a whole /64, so per-address keys would be free to rotate.
 */
export function sourceKey(ip: string): string {
  const addr = ip.trim().replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (isIPv4(addr)) return addr;
  if (isIPv6(addr)) return `${expandIPv6(addr).slice(0, 4).join(':')}::/64`;
  return `other:${createHash('sha256').update(addr).digest('hex').slice(0, 32)}`;
}

function expandIPv6(addr: string): string[] {
  const noZone = addr.split('%')[0] as string;
  // An embedded IPv4 tail (::1.2.3.4) becomes two groups.
  const withHex = noZone.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [((+a << 8) | +b).toString(16), ((+c << 8) | +d).toString(16)].join(':'),
  );
  const [head, tail] = withHex.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => Number.parseInt(g || '0', 16).toString(16));
}

export const THROTTLE_POLICIES = ['account', 'source', 'magic_link_account', 'magic_link_source'] as const;

export function throttlePolicies(c: AuthThrottleConfig): Record<(typeof THROTTLE_POLICIES)[number], BackoffPolicy> {
  const account = {
    freeFailures: c.account_free_failures,
    baseDelaySeconds: c.account_backoff_base_s,
    maxDelaySeconds: c.account_backoff_max_s,
    windowSeconds: c.account_window_s,
  };
  const source = {
    freeFailures: c.ip_free_failures,
    baseDelaySeconds: c.ip_backoff_base_s,
    maxDelaySeconds: c.ip_backoff_max_s,
    windowSeconds: c.ip_window_s,
  };
  return {
    account: { ...account, chargeOnCheck: true, resetOnSuccess: true },
    source: { ...source, chargeOnCheck: false, resetOnSuccess: false },
    magic_link_account: {
      freeFailures: c.magic_link_free_requests,
      baseDelaySeconds: c.magic_link_backoff_base_s,
      maxDelaySeconds: c.magic_link_backoff_max_s,
      windowSeconds: c.magic_link_window_s,
      chargeOnCheck: true,
      resetOnSuccess: false,
    },
    magic_link_source: { ...source, chargeOnCheck: true, resetOnSuccess: false },
  };
}

/** The limiter keys of an attempt. */
export function throttleKeys(subject: ThrottleSubject): LimitKey[] {
  if (!FACTORS.includes(subject.factor)) throw new TypeError(`unknown authentication factor "${String(subject.factor)}"`);
  const keys: LimitKey[] = [];
  const magic = subject.factor === 'magic_link';
  if (subject.account) {
    const h = identifierHash(subject.account);
    keys.push(magic ? { policy: 'magic_link_account', key: h } : { policy: 'account', key: `${subject.factor}:${h}` });
  }
  if (subject.ip) keys.push({ policy: magic ? 'magic_link_source' : 'source', key: sourceKey(subject.ip) });
  if (keys.length === 0) throw new TypeError('a throttled attempt needs an account or a source address');
  return keys;
}

export function createAuthThrottle(opts: {
  store: KeyValueStore;
  config: AuthThrottleConfig;
  logger?: Logger;
  now?: () => number;
}): AuthThrottle {
  const limiter = new BackoffLimiter({
    store: opts.store,
    policies: throttlePolicies(opts.config),
    namespace: 'auth-rl',
    unavailableRetrySeconds: opts.config.limiter_unavailable_retry_s,
    logger: opts.logger,
    now: opts.now,
  });
  return {
    limiter,
    check: (s) => limiter.check(throttleKeys(s)),
    recordFailure: (s) => limiter.recordFailure(throttleKeys(s)),
    recordSuccess: (s) => limiter.recordSuccess(throttleKeys(s)),
    async resetAccount(account, factors = FACTORS) {
      const keys = factors.flatMap((factor) => throttleKeys({ factor, account }));
      await limiter.reset(keys);
    },
  };
}
