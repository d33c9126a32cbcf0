import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { AppError } from '../../src/errors/index.ts';
import {
  assertThreshold,
  chargeAttempt,
  clearFailures,
  createAuthThrottle,
  getLockState,
  isLocked,
  settleAttempt,
  unlockAccount,
} from '../../src/security/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

describe('security: durable per-account lockout (PostgreSQL)', function () {
  this.timeout(60_000);
  let t: TestDatabase;

  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => {
    await t?.drop();
  });

  async function user(): Promise<{ id: string; email: string }> {
    const email = `lock-${randomUUID()}@example.com`;
    const [row] = await t.db('users').insert({ email }).returning(['id', 'email']);
    return row;
  }

  /** One evaluated wrong attempt, the way every factor's verifier runs it. */
  async function wrong(userId: string, threshold: number) {
    const charge = await chargeAttempt(t.db, userId, 'totp', threshold);
    if (!charge.allowed) return { evaluated: false, ...charge, lockedNow: false };
    const settled = await settleAttempt(t.db, userId, 'totp', { success: false, threshold });
    return { evaluated: true, ...charge, ...settled };
  }

  it('locks the factor after the configured number of consecutive failures, and only that factor', async () => {
    const u = await user();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await wrong(u.id, 3));
    expect(results.map((r) => r.evaluated)).to.deep.equal([true, true, true, false, false]);
    expect(results.map((r) => r.lockedNow)).to.deep.equal([false, false, true, false, false]);
    expect(await isLocked(t.db, u.id, 'totp')).to.equal(true);
    expect(await isLocked(t.db, u.id, 'password')).to.equal(false);
    expect(await chargeAttempt(t.db, u.id, 'password', 3)).to.deep.equal({ allowed: true, failedCount: 1 });
    const state = await getLockState(t.db, u.id);
    expect(state.map((s) => [s.factor, s.failedCount, s.locked])).to.deep.equal([
      ['password', 1, false],
      ['totp', 3, true],
    ]);
  });

  it('a success disregards earlier failures (consecutive count)', async () => {
    const u = await user();
    for (let i = 0; i < 2; i++) await wrong(u.id, 3);
    expect((await chargeAttempt(t.db, u.id, 'totp', 3)).allowed).to.equal(true);
    await settleAttempt(t.db, u.id, 'totp', { success: true, threshold: 3 });
    for (let i = 0; i < 2; i++) expect((await wrong(u.id, 3)).evaluated).to.equal(true);
    expect(await isLocked(t.db, u.id, 'totp')).to.equal(false);
    expect((await getLockState(t.db, u.id))[0]?.failedCount).to.equal(2);
  });

  it('150 parallel attempts on one account: no more than the threshold are ever evaluated', async () => {
    const u = await user();
    const charges = await Promise.all(Array.from({ length: 150 }, () => chargeAttempt(t.db, u.id, 'recovery_code', 100)));
    expect(charges.filter((c) => c.allowed)).to.have.length(100);
    expect(await isLocked(t.db, u.id, 'recovery_code')).to.equal(true);
  });

  it('an attempt on no account runs the same statements and touches nothing', async () => {
    expect(await settleAttempt(t.db, null, 'password', { success: false, threshold: 1 })).to.deep.equal({ lockedNow: false });
    expect(await settleAttempt(t.db, null, 'password', { success: true, threshold: 1 })).to.deep.equal({ lockedNow: false });
    expect(await t.db('auth_failure_counters').where({ user_id: '00000000-0000-0000-0000-000000000000' })).to.have.length(0);
  });

  it('NIST caps the threshold at 100', () => {
    expect(() => assertThreshold(100)).not.to.throw();
    expect(() => assertThreshold(101)).to.throw(RangeError);
    expect(() => assertThreshold(0)).to.throw(RangeError);
  });

  it('a password reset clears the password factor (inside the reset transaction)', async () => {
    const u = await user();
    for (let i = 0; i < 2; i++) {
      await chargeAttempt(t.db, u.id, 'password', 2);
      await settleAttempt(t.db, u.id, 'password', { success: false, threshold: 2 });
    }
    await wrong(u.id, 1);
    expect(await isLocked(t.db, u.id, 'password')).to.equal(true);
    const cleared = await t.db.transaction((trx) => clearFailures(trx, u.id, ['password']));
    expect(cleared).to.deep.equal(['password']);
    expect(await isLocked(t.db, u.id, 'password')).to.equal(false);
    expect(await isLocked(t.db, u.id, 'totp')).to.equal(true); // a reset does not bypass the second factor
  });

  it('an administrator unlocks, audited, and the rate-limit budgets go with it', async () => {
    const u = await user();
    for (let i = 0; i < 2; i++) await wrong(u.id, 2);
    const store = new MemoryStore();
    const throttle = createAuthThrottle({
      store,
      config: {
        account_free_failures: 0,
        account_backoff_base_s: 600,
        account_backoff_max_s: 600,
        account_window_s: 3_600,
        ip_free_failures: 100,
        ip_backoff_base_s: 1,
        ip_backoff_max_s: 1,
        ip_window_s: 3_600,
        magic_link_free_requests: 3,
        magic_link_backoff_base_s: 60,
        magic_link_backoff_max_s: 60,
        magic_link_window_s: 3_600,
        limiter_unavailable_retry_s: 5,
      },
    });
    const s = { factor: 'totp', account: u.email } as const;
    await throttle.check(s);
    await throttle.recordFailure(s);
    expect((await throttle.check(s)).allowed).to.equal(false);

    const admin = { type: 'user', id: randomUUID() } as const;
    const res = await unlockAccount(t.db, u.id, admin, {
      reason: 'ticket 4711, identity confirmed',
      ip: '192.0.2.50',
      requestId: 'req-1',
      throttle,
    });
    expect(res).to.deep.equal({ unlocked: ['totp'] });
    expect(await isLocked(t.db, u.id, 'totp')).to.equal(false);
    expect((await throttle.check(s)).allowed).to.equal(true);

    const [audit] = await t.db('audit_events').where({ action: 'auth.lockout.cleared', target_id: u.id });
    expect(audit).to.deep.include({
      actor_type: 'user',
      actor_id: admin.id,
      outcome: 'success',
      target_type: 'user',
      ip: '192.0.2.50',
      request_id: 'req-1',
    });
    expect(audit.details).to.deep.equal({
      factors: ['password', 'totp', 'recovery_code', 'magic_link', 'webauthn', 'email_otp'],
      locked_factors: ['totp'],
      reason: 'ticket 4711, identity confirmed',
    });
    await store.close();

    let err: unknown;
    await unlockAccount(t.db, randomUUID(), admin).catch((e: unknown) => {
      err = e;
    });
    expect(err).to.be.instanceOf(AppError).with.property('code', 'not_found');
  });
});
