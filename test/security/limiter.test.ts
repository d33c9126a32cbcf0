import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { expect } from 'chai';
import {
  type AuthThrottleConfig,
  BackoffLimiter,
  type BackoffPolicy,
  backoffDelayMs,
  createAuthThrottle,
  type LimitDecision,
  sourceKey,
  throttleKeys,
} from '../../src/security/index.ts';
import { type KeyValueStore, MemoryStore, RedisStore } from '../../src/store/index.ts';
import { services, testLogger } from '../support/services.ts';

const policy = (p: Partial<BackoffPolicy> = {}): BackoffPolicy => ({
  freeFailures: 3,
  baseDelaySeconds: 2,
  maxDelaySeconds: 16,
  windowSeconds: 3_600,
  chargeOnCheck: false,
  resetOnSuccess: true,
  ...p,
});

const throttleConfig = (c: Partial<AuthThrottleConfig> = {}): AuthThrottleConfig => ({
  account_free_failures: 3,
  account_backoff_base_s: 60,
  account_backoff_max_s: 900,
  account_window_s: 3_600,
  ip_free_failures: 10,
  ip_backoff_base_s: 60,
  ip_backoff_max_s: 300,
  ip_window_s: 3_600,
  magic_link_free_requests: 3,
  magic_link_backoff_base_s: 60,
  magic_link_backoff_max_s: 3_600,
  magic_link_window_s: 3_600,
  limiter_unavailable_retry_s: 5,
  ...c,
});

const retry = (d: LimitDecision) => (d.allowed ? 0 : d.retryAfterSeconds);

/** A TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

async function redisStore(): Promise<RedisStore> {
  const s = new RedisStore({ url: services.redisUrl, keyPrefix: `iam-test-rl-${randomUUID()}:`, logger: testLogger });
  await s.ready();
  return s;
}

describe('security: backoff curve', () => {
  it('is free for the first failures, then doubles up to the cap', () => {
    const p = policy();
    const waits = Array.from({ length: 9 }, (_, i) => backoffDelayMs(p, i + 1) / 1000);
    expect(waits).to.deep.equal([0, 0, 0, 2, 4, 8, 16, 16, 16]);
    expect(backoffDelayMs(policy({ freeFailures: 0, baseDelaySeconds: 1, maxDelaySeconds: 86_400 }), 10_000)).to.equal(86_400_000);
  });
});

describe('security: limiter over the in-process store (controlled clock)', () => {
  let clock = 1_000_000;
  let store: MemoryStore;
  beforeEach(() => {
    store = new MemoryStore(() => clock);
  });
  afterEach(async () => {
    await store.close();
  });

  it('allows, then blocks with a growing retryAfter, and lets one attempt through when the wait is over', async () => {
    const limiter = new BackoffLimiter({ store, policies: { source: policy() }, now: () => clock });
    const k = [{ policy: 'source', key: '203.0.113.7' }];
    const seen: number[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const d = await limiter.check(k);
      expect(d.allowed, `attempt ${attempt + 1}`).to.equal(true);
      await limiter.recordFailure(k);
      const { blockedForSeconds } = await limiter.status(k[0] as never);
      seen.push(blockedForSeconds);
      if (blockedForSeconds > 0) {
        // Refused, by the same amount, until the wait is over.
        expect(await limiter.check(k)).to.deep.equal({
          allowed: false,
          retryAfterSeconds: blockedForSeconds,
          reason: 'backoff',
          policy: 'source',
        });
        clock += blockedForSeconds * 1000 - 1;
        expect((await limiter.check(k)).allowed).to.equal(false);
        clock += 1;
      }
    }
    expect(seen).to.deep.equal([0, 0, 0, 2, 4, 8, 16, 16]);
    expect(await limiter.status(k[0] as never)).to.deep.equal({ failures: 8, blockedForSeconds: 0 });
  });

  it('forgets failures after the window', async () => {
    const limiter = new BackoffLimiter({ store, policies: { source: policy({ windowSeconds: 60 }) }, now: () => clock });
    const k = [{ policy: 'source', key: 'x' }];
    for (let i = 0; i < 4; i++) await limiter.recordFailure(k);
    expect(await limiter.check(k)).to.include({ allowed: false });
    clock += 61_000;
    expect(await limiter.check(k)).to.deep.equal({ allowed: true });
    expect((await limiter.status(k[0] as never)).failures).to.equal(0);
  });

  it('a success resets keys whose policy says so, and only those', async () => {
    const limiter = new BackoffLimiter({
      store,
      policies: { account: policy({ chargeOnCheck: true }), source: policy({ resetOnSuccess: false, freeFailures: 100 }) },
      now: () => clock,
    });
    const keys = [
      { policy: 'account', key: 'a' },
      { policy: 'source', key: 's' },
    ];
    for (let i = 0; i < 3; i++) {
      expect((await limiter.check(keys)).allowed).to.equal(true);
      await limiter.recordFailure(keys);
    }
    expect(await limiter.status({ policy: 'account', key: 'a' })).to.deep.equal({ failures: 3, blockedForSeconds: 0 });
    await limiter.recordSuccess(keys);
    expect((await limiter.status({ policy: 'account', key: 'a' })).failures).to.equal(0);
    expect((await limiter.status({ policy: 'source', key: 's' })).failures).to.equal(3);
  });

  it('a parallel burst gets no more evaluations than a sequence (charged keys)', async () => {
    const limiter = new BackoffLimiter({ store, policies: { account: policy({ chargeOnCheck: true }) }, now: () => clock });
    const k = [{ policy: 'account', key: 'victim' }];
    const decisions = await Promise.all(Array.from({ length: 40 }, () => limiter.check(k)));
    // 3 free attempts plus the one that holds the first wait.
    expect(decisions.filter((d) => d.allowed)).to.have.length(4);
    expect(decisions.filter((d) => !d.allowed).every((d) => !d.allowed && d.reason === 'backoff' && d.retryAfterSeconds >= 2)).to.equal(
      true,
    );
  });

  it('refuses to guess at an unknown policy name (a programming error, not a store error)', async () => {
    const limiter = new BackoffLimiter({ store, policies: { source: policy() } });
    let err: unknown;
    await limiter.check([{ policy: 'nope', key: 'k' }]).catch((e: unknown) => {
      err = e;
    });
    expect(err).to.be.instanceOf(TypeError);
  });
});

describe('security: limiter over Redis', () => {
  let store: RedisStore;
  before(async () => {
    store = await redisStore();
  });
  after(async () => {
    await store.close();
  });

  it('blocks with a growing retryAfter (allowed → blocked → longer)', async () => {
    const limiter = new BackoffLimiter({ store, policies: { source: policy({ baseDelaySeconds: 5, maxDelaySeconds: 60 }) } });
    const k = [{ policy: 'source', key: '198.51.100.1' }];
    const seen: number[] = [];
    for (let i = 0; i < 7; i++) {
      await limiter.recordFailure(k);
      seen.push(retry(await limiter.check(k)));
    }
    expect(seen.slice(0, 3)).to.deep.equal([0, 0, 0]);
    // 5, 10, 20, 40 s (rounded up from the time left)
    expect(seen.slice(3)).to.satisfy((w: number[]) => w.every((s, i) => s <= 5 * 2 ** i && s >= 5 * 2 ** i - 1));
  });

  it('a parallel burst of 50 on one account is evaluated at most free + 1 times', async () => {
    const limiter = new BackoffLimiter({ store, policies: { account: policy({ chargeOnCheck: true, freeFailures: 5 }) } });
    const k = [{ policy: 'account', key: randomUUID() }];
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.check(k)));
    expect(decisions.filter((d) => d.allowed)).to.have.length(6);
  });

  it('fails closed: a store that cannot answer refuses every attempt, never allows it', async () => {
    const dead = new RedisStore({ url: `redis://127.0.0.1:${await closedPort()}`, keyPrefix: 'dead:', logger: testLogger });
    try {
      const limiter = new BackoffLimiter({ store: dead, policies: { source: policy() }, unavailableRetrySeconds: 7 });
      const k = [{ policy: 'source', key: '192.0.2.1' }];
      for (let i = 0; i < 3; i++) {
        expect(await limiter.check(k)).to.deep.equal({ allowed: false, retryAfterSeconds: 7, reason: 'unavailable' });
      }
      // Recording against a dead store is not an error for the caller.
      await limiter.recordFailure(k);
      await limiter.recordSuccess(k);
      await limiter.reset(k);

      const throttle = createAuthThrottle({ store: dead, config: throttleConfig() });
      for (const factor of ['password', 'totp', 'recovery_code', 'magic_link', 'email_otp'] as const) {
        const d = await throttle.check({ factor, account: 'someone@example.com', ip: '192.0.2.1' });
        expect(d, factor).to.deep.equal({ allowed: false, retryAfterSeconds: 5, reason: 'unavailable' });
      }
    } finally {
      await dead.close();
    }
  });
});

describe('security: auth throttle (every way in, per account and per source)', () => {
  const implementations: [string, () => Promise<KeyValueStore>][] = [
    ['memory', async () => new MemoryStore()],
    ['redis', redisStore],
  ];
  for (const [name, make] of implementations) {
    describe(name, () => {
      let store: KeyValueStore;
      beforeEach(async () => {
        store = await make();
      });
      afterEach(async () => {
        await store.close();
      });

      async function fail(throttle: ReturnType<typeof createAuthThrottle>, s: Parameters<typeof throttleKeys>[0]) {
        const d = await throttle.check(s);
        if (d.allowed) await throttle.recordFailure(s);
        return d;
      }

      it('per-account and per-source budgets are independent', async () => {
        const throttle = createAuthThrottle({ store, config: throttleConfig({ account_free_failures: 3, ip_free_failures: 6 }) });
        const victim = `victim-${randomUUID()}@example.com`;
        for (let i = 0; i < 4; i++)
          expect((await fail(throttle, { factor: 'password', account: victim, ip: '203.0.113.1' })).allowed).to.equal(true);
        // The account now waits, from any address ...
        expect(await throttle.check({ factor: 'password', account: victim, ip: '203.0.113.99' })).to.deep.include({
          allowed: false,
          reason: 'backoff',
          policy: 'account',
        });
        // ... while another account from the same address is still fine.
        expect(await throttle.check({ factor: 'password', account: `other-${randomUUID()}@example.com`, ip: '203.0.113.1' })).to.deep.equal(
          {
            allowed: true,
          },
        );

        // A source spraying many accounts waits for any account, while those accounts are fine elsewhere.
        for (let i = 0; i < 7; i++)
          await fail(throttle, { factor: 'password', account: `spray-${i}-${randomUUID()}@example.com`, ip: '198.51.100.5' });
        const fresh = `fresh-${randomUUID()}@example.com`;
        expect(await throttle.check({ factor: 'password', account: fresh, ip: '198.51.100.5' })).to.deep.include({
          allowed: false,
          policy: 'source',
        });
        expect(await throttle.check({ factor: 'password', account: fresh, ip: '198.51.100.6' })).to.deep.equal({ allowed: true });
      });

      it('each factor has its own account budget, so one factor succeeding cannot reset another', async () => {
        const throttle = createAuthThrottle({ store, config: throttleConfig({ account_free_failures: 2, ip_free_failures: 1_000 }) });
        const account = `mfa-${randomUUID()}@example.com`;
        for (let i = 0; i < 3; i++) await fail(throttle, { factor: 'totp', account, ip: '203.0.113.2' });
        expect((await throttle.check({ factor: 'totp', account, ip: '203.0.113.2' })).allowed).to.equal(false);
        // The password is known and keeps succeeding; the TOTP wait stays.
        const pw = { factor: 'password', account, ip: '203.0.113.2' } as const;
        expect((await throttle.check(pw)).allowed).to.equal(true);
        await throttle.recordSuccess(pw);
        expect((await throttle.check({ factor: 'totp', account, ip: '203.0.113.2' })).allowed).to.equal(false);
        expect((await throttle.check({ factor: 'recovery_code', account, ip: '203.0.113.2' })).allowed).to.equal(true);
        // An administrator (or a reset) clears the account's budgets.
        await throttle.resetAccount(account);
        expect((await throttle.check({ factor: 'totp', account, ip: '203.0.113.2' })).allowed).to.equal(true);
      });

      it('magic-link requests are a request budget: every request counts, success resets nothing', async () => {
        const throttle = createAuthThrottle({
          store,
          config: throttleConfig({ magic_link_free_requests: 3, magic_link_backoff_base_s: 60 }),
        });
        const s = { factor: 'magic_link', account: `ml-${randomUUID()}@example.com`, ip: '203.0.113.3' } as const;
        for (let i = 0; i < 4; i++) expect((await throttle.check(s)).allowed, `request ${i + 1}`).to.equal(true);
        await throttle.recordSuccess(s);
        const d = await throttle.check(s);
        expect(d).to.deep.include({ allowed: false, policy: 'magic_link_account' });
        expect(retry(d)).to.be.within(59, 60);
      });

      it('keys hold no identifier in clear and match case-insensitively', () => {
        const [a] = throttleKeys({ factor: 'password', account: '  Alice@Example.COM ' });
        const [b] = throttleKeys({ factor: 'password', account: 'alice@example.com' });
        expect(a).to.deep.equal(b);
        expect(a?.key).to.match(/^password:[0-9a-f]{64}$/);
        expect(() => throttleKeys({ factor: 'password' })).to.throw(TypeError);
        expect(() => throttleKeys({ factor: 'sms' as never, ip: '192.0.2.1' })).to.throw(TypeError);
      });
    });
  }

  it('limits IPv6 sources per /64 and IPv4-mapped addresses as IPv4', () => {
    expect(sourceKey('2001:db8:1:2:aaaa::1')).to.equal(sourceKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'));
    expect(sourceKey('2001:db8:1:2::1')).to.equal('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:3::1')).not.to.equal(sourceKey('2001:db8:1:2::1'));
    expect(sourceKey('::1')).to.equal('0:0:0:0::/64');
    expect(sourceKey('::ffff:192.0.2.10')).to.equal('192.0.2.10');
    expect(sourceKey('192.0.2.10')).to.equal('192.0.2.10');
    expect(sourceKey('[2001:db8::7]')).to.equal('2001:db8:0:0::/64');
    expect(sourceKey('not an address')).to.match(/^other:[0-9a-f]{32}$/);
  });
});
