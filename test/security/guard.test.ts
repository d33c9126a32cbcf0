import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { expect } from 'chai';
import { type AuthThrottleConfig, createAuthThrottle, createFactorGuard, isLocked, unlockAccount } from '../../src/security/index.ts';
import { MemoryStore, RedisStore } from '../../src/store/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { testLogger } from '../support/services.ts';

const config = (c: Partial<AuthThrottleConfig> = {}): AuthThrottleConfig => ({
  account_free_failures: 1_000,
  account_backoff_base_s: 60,
  account_backoff_max_s: 900,
  account_window_s: 3_600,
  ip_free_failures: 10_000,
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

describe('security: factor guard (TOTP, recovery codes, email OTP, passkeys)', function () {
  this.timeout(60_000);
  let t: TestDatabase;
  let store: MemoryStore;

  before(async () => {
    t = await createTestDatabase();
  });
  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(async () => {
    await store.close();
  });
  after(async () => {
    await t?.drop();
  });

  async function user() {
    const [u] = await t
      .db('users')
      .insert({ email: `guard-${randomUUID()}@example.com` })
      .returning(['id', 'email']);
    return u as { id: string; email: string };
  }

  /** A verifier that counts how often it really ran. */
  function verifier(answer: boolean) {
    const v = {
      calls: 0,
      fn: async () => {
        v.calls++;
        return answer ? ({ ok: true, credentialId: 'c1' } as const) : ({ ok: false, reason: 'invalid' } as const);
      },
    };
    return v;
  }

  it('passes the verifier through and locks the factor after the threshold; the verifier never runs while locked', async () => {
    const guard = createFactorGuard({ throttle: createAuthThrottle({ store, config: config() }), lockoutThreshold: 3 });
    const u = await user();
    const wrong = verifier(false);
    const results = [];
    for (let i = 0; i < 5; i++)
      results.push(await guard.run(t.db, { factor: 'totp', userId: u.id, account: u.email, ip: '192.0.2.1' }, wrong.fn));
    expect(wrong.calls).to.equal(3);
    expect(results.slice(0, 3)).to.deep.equal(Array(3).fill({ ok: false, reason: 'invalid' }));
    expect(results.slice(3)).to.deep.equal(Array(2).fill({ ok: false, refused: 'locked' }));
    const right = verifier(true);
    expect(await guard.run(t.db, { factor: 'totp', userId: u.id }, right.fn)).to.deep.equal({ ok: false, refused: 'locked' });
    expect(right.calls).to.equal(0);
    // The other factors are unaffected.
    expect(await guard.run(t.db, { factor: 'recovery_code', userId: u.id }, right.fn)).to.deep.equal({ ok: true, credentialId: 'c1' });

    const audit = await t.db('audit_events').where({ target_id: u.id }).orderBy('chain_seq').select('action', 'details');
    expect(audit.map((r) => [r.action, r.details.reason ?? null])).to.deep.equal([
      ['auth.lockout.locked', null],
      ['auth.attempt.refused', 'locked'],
      ['auth.attempt.refused', 'locked'],
      ['auth.attempt.refused', 'locked'],
    ]);

    await unlockAccount(t.db, u.id, { type: 'system', id: 'test' }, { factors: ['totp'] });
    expect(await guard.run(t.db, { factor: 'totp', userId: u.id }, right.fn)).to.deep.equal({ ok: true, credentialId: 'c1' });
  });

  it('a success resets the count; the throttle applies before the durable counter', async () => {
    const guard = createFactorGuard({
      throttle: createAuthThrottle({ store, config: config({ account_free_failures: 2 }) }),
      lockoutThreshold: 100,
    });
    const u = await user();
    const wrong = verifier(false);
    for (let i = 0; i < 3; i++) await guard.run(t.db, { factor: 'email_otp', userId: u.id, ip: '192.0.2.2' }, wrong.fn);
    const refused = await guard.run(t.db, { factor: 'email_otp', userId: u.id, ip: '192.0.2.2' }, wrong.fn);
    expect(refused).to.deep.include({ ok: false, refused: 'rate_limited' });
    expect(wrong.calls).to.equal(3);
    expect(await isLocked(t.db, u.id, 'email_otp')).to.equal(false);
    const [row] = await t.db('auth_failure_counters').where({ user_id: u.id, factor: 'email_otp' });
    expect(row.failed_count).to.equal(3);
  });

  it('refuses every attempt while the throttle store is down', async () => {
    const srv = createServer();
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const { port } = srv.address() as { port: number };
    await new Promise<void>((ok) => srv.close(() => ok()));
    const dead = new RedisStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'dead:', logger: testLogger });
    try {
      const guard = createFactorGuard({ throttle: createAuthThrottle({ store: dead, config: config() }), lockoutThreshold: 100 });
      const u = await user();
      const right = verifier(true);
      for (const factor of ['totp', 'recovery_code', 'email_otp', 'webauthn'] as const) {
        expect(await guard.run(t.db, { factor, userId: u.id, ip: '192.0.2.3' }, right.fn)).to.deep.equal({
          ok: false,
          refused: 'limiter_unavailable',
          retryAfterSeconds: 5,
        });
      }
      expect(right.calls).to.equal(0);
    } finally {
      await dead.close();
    }
  });
});
