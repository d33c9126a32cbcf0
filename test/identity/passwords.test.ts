import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { expect } from 'chai';
import { AppError } from '../../src/errors/index.ts';
import {
  createPasswordHasher,
  createPasswordService,
  hashPassword,
  type PasswordHasher,
  type PasswordService,
  parseArgon2Hash,
} from '../../src/identity/index.ts';
import { type AuthThrottleConfig, createAuthThrottle, identifierHash, isLocked, unlockAccount } from '../../src/security/index.ts';
import { type KeyValueStore, RedisStore } from '../../src/store/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { services, testLogger } from '../support/services.ts';

const GOOD = 'glimmer quokka vat 42';
const OTHER = 'velvet tundra oboe 77';

/** Budgets that stay out of the way unless a test wants them. */
const generous = (c: Partial<AuthThrottleConfig> = {}): AuthThrottleConfig => ({
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return ((s[Math.floor((s.length - 1) / 2)] as number) + (s[Math.ceil((s.length - 1) / 2)] as number)) / 2;
};

describe('identity: password service', function () {
  this.timeout(120_000);
  let t: TestDatabase;
  let store: RedisStore;
  let hasher: PasswordHasher;

  before(async () => {
    t = await createTestDatabase();
    store = new RedisStore({ url: services.redisUrl, keyPrefix: `iam-test-pw-${randomUUID()}:`, logger: testLogger });
    await store.ready();
    hasher = await createPasswordHasher(); // the OWASP defaults: timing is measured on the real cost
  });
  after(async () => {
    await store?.close();
    await t?.drop();
  });

  function service(
    opts: { throttle?: Partial<AuthThrottleConfig>; threshold?: number; store?: KeyValueStore; maxConcurrentAttempts?: number } = {},
  ): PasswordService {
    return createPasswordService({
      hasher,
      throttle: createAuthThrottle({ store: opts.store ?? store, config: generous(opts.throttle) }),
      lockoutThreshold: opts.threshold ?? 100,
      ...(opts.maxConcurrentAttempts ? { maxConcurrentAttempts: opts.maxConcurrentAttempts } : {}),
    });
  }

  async function createUser(svc: PasswordService, fields: Record<string, unknown> = {}, password: string | null = GOOD) {
    // One word of 32 hex digits: a dashed uuid's 4-digit groups can fold into words of the password
    // ("a7a2" reads "ataz") and fail it under the context rule.
    const email = `user-${randomUUID().replaceAll('-', '')}@example.com`;
    const [u] = await t
      .db('users')
      .insert({ email, display_name: 'Test User', ...fields })
      .returning(['id', 'email']);
    if (password) {
      await t.db.transaction((trx) => svc.setPassword(trx, u.id, password, { actor: { type: 'system', id: 'test' } }));
    }
    return u as { id: string; email: string };
  }

  const attempt = (svc: PasswordService, email: string, password: string, ip = '192.0.2.10') =>
    svc.verifyUserPassword(t.db, { email, password, ip, userAgent: 'mocha', requestId: `req-${randomUUID()}` });

  it('verifies the right password (case-insensitive email) and audits it', async () => {
    const svc = service();
    const u = await createUser(svc);
    const res = await attempt(svc, `  ${u.email.toUpperCase()} `, GOOD);
    expect(res).to.deep.equal({ ok: true, userId: u.id, needsRehash: false });
    const [row] = await t.db('audit_events').where({ action: 'auth.password.verified', target_id: u.id });
    expect(row).to.deep.include({ actor_type: 'user', actor_id: u.id, outcome: 'success', ip: '192.0.2.10', user_agent: 'mocha' });
    expect(row.details).to.deep.equal({ factor: 'password', account_hash: identifierHash(u.email), rehashed: false });
  });

  it('gives the same answer for an unknown account, a wrong password, a disabled user and a user without a password', async () => {
    const svc = service();
    const known = await createUser(svc);
    const disabled = await createUser(svc);
    await t.db('users').where({ id: disabled.id }).update({ status: 'disabled', disabled_at: t.db.fn.now() });
    const passwordless = await createUser(svc, {}, null);

    const answers = [
      await attempt(svc, `nobody-${randomUUID()}@example.com`, GOOD),
      await attempt(svc, known.email, OTHER),
      await attempt(svc, disabled.email, GOOD),
      await attempt(svc, passwordless.email, GOOD),
    ];
    for (const a of answers) expect(a).to.deep.equal({ ok: false });

    const reasons = await t
      .db('audit_events')
      .where({ action: 'auth.password.failed' })
      .whereIn('target_id', [known.id, disabled.id, passwordless.id])
      .orWhereRaw(`action = 'auth.password.failed' and target_id is null and details->>'reason' = 'unknown_account'`)
      .select('details', 'actor_type', 'outcome');
    const byReason = new Set(reasons.map((r) => r.details.reason));
    for (const r of ['unknown_account', 'wrong_password', 'disabled', 'no_password']) expect(byReason).to.include(r);
    for (const r of reasons) expect(r).to.deep.include({ actor_type: 'anonymous', outcome: 'failure' });
  });

  it('unknown account, wrong password and locked account take comparable time (median of 15 each)', async () => {
    const svc = service();
    const known = await createUser(svc);
    const lockedUser = await createUser(svc);
    await attempt(service({ threshold: 1 }), lockedUser.email, OTHER); // locked (durably) by its first failure
    expect(await isLocked(t.db, lockedUser.id, 'password')).to.equal(true);
    const unknown: number[] = [];
    const wrong: number[] = [];
    const locked: number[] = [];
    const timed = async (email: string, into: number[]) => {
      const t0 = performance.now();
      const res = await attempt(svc, email, OTHER, '198.51.100.20');
      into.push(performance.now() - t0);
      expect(res).to.deep.equal({ ok: false });
    };
    // Warm both paths, then interleave so drift on a busy machine hits both alike.
    await timed(`ghost-${randomUUID()}@example.com`, []);
    await timed(known.email, []);
    await timed(lockedUser.email, []);
    for (let i = 0; i < 15; i++) {
      await timed(`ghost-${randomUUID()}@example.com`, unknown);
      await timed(known.email, wrong);
      await timed(lockedUser.email, locked);
    }
    const ratio = median(unknown) / median(wrong);
    const lockedRatio = median(locked) / median(wrong);
    console.log(
      `      timing: unknown ${median(unknown).toFixed(1)} ms, wrong password ${median(wrong).toFixed(1)} ms, locked ${median(locked).toFixed(1)} ms (medians); unknown/wrong ${ratio.toFixed(2)}, locked/wrong ${lockedRatio.toFixed(2)}`,
    );
    expect(ratio).to.be.within(0.7, 1.3);
    expect(lockedRatio).to.be.within(0.7, 1.3);
  });

  it('audits every attempt without the password anywhere in the database', async () => {
    const svc = service();
    const u = await createUser(svc);
    const secret = `unique wrong secret ${randomUUID()}`;
    const before = Number((await t.db('audit_events').count({ n: '*' }))[0]?.n);
    await attempt(svc, u.email, secret);
    await attempt(svc, `ghost-${randomUUID()}@example.com`, secret);
    await attempt(svc, u.email, GOOD);
    const after = Number((await t.db('audit_events').count({ n: '*' }))[0]?.n);
    expect(after - before).to.equal(3);

    for (const needle of [secret, GOOD]) {
      for (const table of ['audit_events', 'outbox_events', 'auth_failure_counters', 'password_credentials', 'users']) {
        const hits = await t.db.raw(`select count(*)::int as n from ${table} x where x::text like ?`, [`%${needle}%`]);
        expect(hits.rows[0].n, `${table} contains a password`).to.equal(0);
      }
    }
  });

  it('rehashes on success when the stored parameters are not the configured ones', async () => {
    const svc = service();
    const u = await createUser(svc, {}, null);
    const old = await hashPassword(GOOD, { m: 12_288, t: 3, p: 1 });
    await t.db('password_credentials').insert({ user_id: u.id, password_hash: old.hash, params: JSON.stringify(old.params) });

    expect(await attempt(svc, u.email, OTHER)).to.deep.equal({ ok: false });
    expect((await t.db('password_credentials').where({ user_id: u.id }).first()).password_hash).to.equal(old.hash);

    expect(await attempt(svc, u.email, GOOD)).to.deep.equal({ ok: true, userId: u.id, needsRehash: true });
    const stored = await t.db('password_credentials').where({ user_id: u.id }).first();
    expect(stored.password_hash).not.to.equal(old.hash);
    expect(parseArgon2Hash(stored.password_hash)?.params).to.deep.equal({ m: 19_456, t: 2, p: 1 });
    expect(stored.params).to.deep.equal({ m: 19_456, t: 2, p: 1 });
    expect(await attempt(svc, u.email, GOOD)).to.deep.equal({ ok: true, userId: u.id, needsRehash: false });
  });

  it('setPassword enforces the policy with translatable reasons, and the second-factor minimum', async () => {
    const svc = service();
    const u = await createUser(svc, { given_name: 'Quentin', family_name: 'Marlowe' }, null);
    const refused = async (pw: string) => {
      try {
        await t.db.transaction((trx) => svc.setPassword(trx, u.id, pw, { actor: { type: 'user', id: u.id } }));
      } catch (e) {
        expect(e).to.be.instanceOf(AppError).with.property('code', 'validation_failed');
        return (e as AppError).extensions as { reasons: string[]; messages: { key: string }[] };
      }
      throw new Error(`accepted ${pw}`);
    };
    expect((await refused('zq8#plmv')).reasons).to.deep.equal(['too_short']);
    expect((await refused('password12345678')).reasons).to.deep.equal(['common']);
    const ctx = await refused('zq8#plm marlowe vbt2');
    expect(ctx.reasons).to.deep.equal(['context']);
    expect(ctx.messages[0]?.key).to.equal('password.policy.context');
    expect(await t.db('password_credentials').where({ user_id: u.id })).to.have.length(0);

    // Ten characters: refused for a single-factor account, accepted once a TOTP is confirmed.
    expect((await refused('k7#Vq9!zpw')).reasons).to.deep.equal(['too_short']);
    await t.db('totp_credentials').insert({ user_id: u.id, secret_envelope: JSON.stringify({ v: 1 }), confirmed_at: t.db.fn.now() });
    await t.db.transaction((trx) => svc.setPassword(trx, u.id, 'k7#Vq9!zpw', { actor: { type: 'user', id: u.id }, via: 'change' }));
    expect((await attempt(svc, u.email, 'k7#Vq9!zpw')).ok).to.equal(true);
    const [audit] = await t.db('audit_events').where({ action: 'auth.password.changed', target_id: u.id });
    expect(audit.details).to.deep.equal({ via: 'change', must_change: false, cleared_lockout: false });
  });

  it('changePassword re-authenticates with the current password first', async () => {
    const svc = service();
    const u = await createUser(svc);
    expect(await svc.changePassword(t.db, { userId: u.id, currentPassword: OTHER, newPassword: 'copper lantern fjord 31' })).to.deep.equal({
      ok: false,
    });
    expect((await attempt(svc, u.email, GOOD)).ok).to.equal(true);
    let err: unknown;
    await svc.changePassword(t.db, { userId: u.id, currentPassword: GOOD, newPassword: 'qwertyuiopasdfgh' }).catch((e: unknown) => {
      err = e;
    });
    expect(err).to.be.instanceOf(AppError).with.property('code', 'validation_failed');
    expect(await svc.changePassword(t.db, { userId: u.id, currentPassword: GOOD, newPassword: 'copper lantern fjord 31' })).to.deep.equal({
      ok: true,
    });
    expect((await attempt(svc, u.email, GOOD)).ok).to.equal(false);
    expect((await attempt(svc, u.email, 'copper lantern fjord 31')).ok).to.equal(true);
  });

  it('locks the account after the configured consecutive failures, silently, until reset or admin unlock', async () => {
    const svc = service({ threshold: 3 });
    const u = await createUser(svc);
    for (let i = 0; i < 3; i++) expect(await attempt(svc, u.email, OTHER)).to.deep.equal({ ok: false });
    expect(await isLocked(t.db, u.id, 'password')).to.equal(true);
    // The right password now gets exactly the same answer.
    expect(await attempt(svc, u.email, GOOD)).to.deep.equal({ ok: false });
    const rows = await t
      .db('audit_events')
      .where({ target_id: u.id })
      .whereIn('action', ['auth.password.failed', 'auth.lockout.locked'])
      .orderBy('chain_seq');
    expect(rows.map((r) => [r.action, r.details.reason ?? null])).to.deep.equal([
      ['auth.password.failed', 'wrong_password'],
      ['auth.password.failed', 'wrong_password'],
      ['auth.password.failed', 'wrong_password'],
      ['auth.lockout.locked', null],
      ['auth.password.failed', 'locked'],
    ]);

    await unlockAccount(t.db, u.id, { type: 'user', id: randomUUID() }, { reason: 'test', throttle: svc.throttle });
    expect(await attempt(svc, u.email, GOOD)).to.deep.include({ ok: true });

    // A password reset unlocks too.
    for (let i = 0; i < 3; i++) await attempt(svc, u.email, OTHER);
    expect(await isLocked(t.db, u.id, 'password')).to.equal(true);
    await t.db.transaction((trx) => svc.setPassword(trx, u.id, 'reset tundra oboe 5', { actor: { type: 'user', id: u.id }, via: 'reset' }));
    expect(await isLocked(t.db, u.id, 'password')).to.equal(false);
    expect(await attempt(svc, u.email, 'reset tundra oboe 5')).to.deep.include({ ok: true });
    const [reset] = await t.db('audit_events').where({ action: 'auth.password.changed', target_id: u.id }).orderBy('chain_seq', 'desc');
    expect(reset.details).to.deep.include({ via: 'reset', cleared_lockout: true });
  });

  it('a success resets the consecutive count', async () => {
    const svc = service({ threshold: 3 });
    const u = await createUser(svc);
    for (let round = 0; round < 3; round++) {
      await attempt(svc, u.email, OTHER);
      await attempt(svc, u.email, OTHER);
      expect((await attempt(svc, u.email, GOOD)).ok, `round ${round}`).to.equal(true);
    }
    expect(await isLocked(t.db, u.id, 'password')).to.equal(false);
  });

  it('50 parallel wrong passwords evaluate no more than the lockout threshold', async () => {
    const svc = service({ threshold: 5 });
    const u = await createUser(svc);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(svc, u.email, `${OTHER} ${i}`, `203.0.113.${i}`)));
    expect(answers.every((a) => a.ok === false)).to.equal(true);
    const reasons = await t
      .db('audit_events')
      .where({ action: 'auth.password.failed', target_id: u.id })
      .select(t.db.raw(`details->>'reason' as reason`));
    expect(reasons.filter((r) => r.reason === 'wrong_password').length).to.be.at.most(5);
    expect(reasons).to.have.length(50);
    expect(await isLocked(t.db, u.id, 'password')).to.equal(true);
  });

  it('far below the threshold an attempt is not charged first: a clean success writes no counter, a failure is counted after', async () => {
    const svc = service({ threshold: 10, maxConcurrentAttempts: 4 });
    const u = await createUser(svc);
    const counter = () => t.db('auth_failure_counters').where({ user_id: u.id, factor: 'password' }).first('failed_count', 'locked_until');
    expect((await attempt(svc, u.email, GOOD)).ok).to.equal(true);
    expect(await counter(), 'no counter row for a clean sign-in').to.equal(undefined);
    expect(await attempt(svc, u.email, OTHER)).to.deep.equal({ ok: false });
    expect(await counter()).to.deep.equal({ failed_count: 1, locked_until: null });
    const [failed] = await t.db('audit_events').where({ action: 'auth.password.failed', target_id: u.id });
    expect(failed.details).to.deep.include({ reason: 'wrong_password', failed_count: 1 });
    expect((await attempt(svc, u.email, GOOD)).ok).to.equal(true);
    expect(await counter(), 'a success resets the count').to.deep.include({ failed_count: 0 });
  });

  it('near the threshold every attempt is charged first, and the lock still comes at the threshold', async () => {
    const svc = service({ threshold: 6, maxConcurrentAttempts: 4 });
    const u = await createUser(svc);
    // 0..2 failures on record: uncharged (prior + 4 <= 6); from 3 on: charged first.
    for (let i = 0; i < 6; i++) expect(await attempt(svc, u.email, OTHER)).to.deep.equal({ ok: false });
    expect(await isLocked(t.db, u.id, 'password')).to.equal(true);
    expect(await attempt(svc, u.email, GOOD)).to.deep.equal({ ok: false });
    const reasons = await t
      .db('audit_events')
      .where({ target_id: u.id })
      .whereIn('action', ['auth.password.failed', 'auth.lockout.locked'])
      .orderBy('chain_seq')
      .select('action', t.db.raw(`details->>'reason' as reason`), t.db.raw(`details->>'failed_count' as n`));
    expect(reasons.map((r) => [r.action, r.reason, r.n])).to.deep.equal([
      ['auth.password.failed', 'wrong_password', '1'],
      ['auth.password.failed', 'wrong_password', '2'],
      ['auth.password.failed', 'wrong_password', '3'],
      ['auth.password.failed', 'wrong_password', '4'],
      ['auth.password.failed', 'wrong_password', '5'],
      ['auth.password.failed', 'wrong_password', '6'],
      ['auth.lockout.locked', null, '6'],
      ['auth.password.failed', 'locked', null],
    ]);
  });

  it('a parallel burst within the throttle’s concurrency never evaluates more than the threshold, uncharged or not', async () => {
    // The throttle lets 3 free attempts and then one at a time through: at most 4 run at once.
    const svc = service({ threshold: 5, maxConcurrentAttempts: 4, throttle: { account_free_failures: 3, account_backoff_base_s: 60 } });
    const u = await createUser(svc);
    await attempt(svc, u.email, OTHER, '198.51.100.1');
    await svc.throttle.resetAccount(u.email);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(svc, u.email, `${OTHER} ${i}`, `198.51.100.${i + 2}`)));
    expect(answers.every((a) => a.ok === false)).to.equal(true);
    const evaluated = await t
      .db('audit_events')
      .where({ action: 'auth.password.failed', target_id: u.id })
      .whereRaw(`details->>'reason' = 'wrong_password'`)
      .count<{ n: string }[]>({ n: '*' });
    expect(Number(evaluated[0]?.n)).to.be.at.most(5);
  });

  it('throttles per account with a growing wait, identically for unknown accounts', async () => {
    const svc = service({ throttle: { account_free_failures: 2, account_backoff_base_s: 30 } });
    const u = await createUser(svc);
    const ghost = `ghost-${randomUUID()}@example.com`;
    for (const email of [u.email, ghost]) {
      expect(await attempt(svc, email, OTHER)).to.deep.equal({ ok: false });
      expect(await attempt(svc, email, OTHER)).to.deep.equal({ ok: false });
      expect(await attempt(svc, email, OTHER)).to.deep.equal({ ok: false }); // the first one past the free failures
      const throttled = await attempt(svc, email, email === ghost ? OTHER : GOOD);
      expect(throttled.ok).to.equal(false);
      expect(!throttled.ok && throttled.retryAfterSeconds).to.be.within(29, 30);
    }
    const [row] = await t
      .db('audit_events')
      .whereRaw(`action = 'auth.password.failed' and details->>'reason' = 'rate_limited' and details->>'account_hash' = ?`, [
        identifierHash(u.email),
      ]);
    expect(row).to.deep.include({ actor_type: 'anonymous', outcome: 'failure' });
  });

  it('refuses sign-in, even with the right password, while the rate-limit store is down (fails closed)', async () => {
    const srv = createServer();
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const { port } = srv.address() as { port: number };
    await new Promise<void>((ok) => srv.close(() => ok()));
    const dead = new RedisStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'dead:', logger: testLogger });
    try {
      const up = service();
      const u = await createUser(up);
      const down = service({ store: dead });
      for (let i = 0; i < 3; i++) expect(await attempt(down, u.email, GOOD)).to.deep.equal({ ok: false, retryAfterSeconds: 5 });
      const rows = await t
        .db('audit_events')
        .whereRaw(`details->>'reason' = 'limiter_unavailable' and details->>'account_hash' = ?`, [identifierHash(u.email)]);
      expect(rows).to.have.length(3);
      expect((await attempt(up, u.email, GOOD)).ok).to.equal(true);
    } finally {
      await dead.close();
    }
  });
});
