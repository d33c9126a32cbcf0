import { expect } from 'chai';
import type { Knex } from 'knex';
import { createSignInWriteQueue } from '../../interactions/sign-in-writes.ts';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { testLogger } from '../support/services.ts';
import { authorizeUrl, callbackOf, createUser, type HttpResponse, passwordSignIn, type TestUser, UserAgent, webClient } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';

interface QueryEvent {
  sql: string;
  bindings?: readonly unknown[];
  __knexTxId?: string;
}

/** One write statement the service sent: the table (or engine model) and its transaction. */
interface Write {
  what: string;
  tx: string;
}

const TOP_LEVEL_WRITE = /^\s*(insert|update|delete)\b/i;
/** A data-modifying CTE: it writes only when its condition selects rows (the password lookup's charge). */
const CTE_WRITE = /^\s*with\b[\s\S]*\b(insert\s+into|delete\s+from)\b/i;

/** What a write statement touches: `oidc_models:<Model>` for the engine's storage, else the table. */
function target(q: QueryEvent): string {
  const sql = q.sql.replace(/\s+/g, ' ');
  const table = /\b(?:insert into|update|delete from)\s+"?([a-z_]+)"?/i.exec(sql)?.[1] ?? '?';
  return table === 'oidc_models' ? `oidc_models:${String(q.bindings?.[0])}` : table;
}

/**
 * Records the write statements the service's knex sends while `fn` runs, with their transaction
 * (a statement outside one is its own), the data-modifying CTEs that may write, and the cluster's
 * write transactions — the next transaction id, PostgreSQL's own count, as bench/pg-writes.ts reads it.
 */
async function recordWrites(db: Knex, fn: () => Promise<void>): Promise<{ writes: Write[]; conditional: string[]; xids: number }> {
  const writes: Write[] = [];
  const conditional: string[] = [];
  let single = 0;
  const onQuery = (q: QueryEvent) => {
    if (TOP_LEVEL_WRITE.test(q.sql)) {
      single += 1;
      writes.push({ what: target(q), tx: q.__knexTxId ?? `single-${single}` });
    } else if (CTE_WRITE.test(q.sql)) conditional.push(target(q));
  };
  const xid = async () => Number((await db.raw('select pg_snapshot_xmax(pg_current_snapshot())::text as x')).rows[0].x);
  const before = await xid();
  db.on('query', onQuery);
  try {
    await fn();
  } finally {
    db.off('query', onQuery);
  }
  return { writes, conditional, xids: (await xid()) - before };
}

/**
 * DESIGN §7: "≤ 1 PostgreSQL write per completed login". What a completed password sign-in writes
 * — from the authorization request to the redirect with the code — counted statement by
 * statement and by PostgreSQL's own transaction ids. The password POST writes nothing: IAM's rows
 * (the password's audit row, a counter reset, `last_login_at`, `auth.signin.succeeded`) wait for
 * the resume request, whose one transaction also stores the engine's Session and (first-party
 * client, new session) Grant (ADR-0010, ADR-0015: src/oidc/unit-of-work.ts).
 */
describe('interactions: PostgreSQL writes per completed login', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService();
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  /** The password POST (a 303 to the resume URL), not followed. */
  async function passwordPost(ua: UserAgent, user: TestUser, password = user.password): Promise<HttpResponse> {
    const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, password);
    return response;
  }

  /** A sweep that finds every record left so far due (their grace is over in its clock). */
  const lateSweep = () =>
    createSignInWriteQueue({
      db: t.service.db,
      store: t.service.store,
      logger: testLogger,
      keepMs: 120_000,
      now: () => Date.now() + 60_000,
    }).sweep();

  const signInAudit = (userId: string) =>
    t.service
      .db('audit_events')
      .where({ target_id: userId })
      .whereIn('action', ['auth.password.verified', 'auth.signin.succeeded'])
      .orderBy('chain_seq')
      .select('action', 'details');
  const failures = async (userId: string) =>
    (await t.service.db('auth_failure_counters').where({ user_id: userId, factor: 'password' }).first('failed_count'))?.failed_count;
  const engineRows = (userId: string) =>
    t.service.db('oidc_models').where({ account_id: userId }).whereIn('model', ['Grant', 'Session']).orderBy('model').pluck('model');

  it("a clean password sign-in is ONE write transaction, in the resume request: Grant, Session and IAM's rows together", async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    let post: HttpResponse | undefined;
    const atPost = await recordWrites(t.service.db, async () => {
      post = await passwordPost(ua, user);
    });
    expect(post?.status, post?.text.slice(0, 300)).to.equal(303);
    // The account lookup could charge the failure counter; a clean account is far below the threshold.
    expect(atPost.writes, JSON.stringify(atPost.writes)).to.deep.equal([]);
    expect(atPost.conditional).to.deep.equal(['auth_failure_counters']);
    expect(atPost.xids).to.equal(0);
    expect(await signInAudit(user.id)).to.deep.equal([]);

    let callback: URL | undefined;
    const atResume = await recordWrites(t.service.db, async () => {
      callback = await callbackOf(ua, post as HttpResponse);
    });
    expect(callback?.searchParams.get('code')).to.be.a('string');
    expect(atResume.writes.map((w) => w.what)).to.deep.equal([
      'oidc_models:Grant',
      'oidc_models:Session',
      'audit_events',
      'users',
      'audit_events',
    ]);
    expect(new Set(atResume.writes.map((w) => w.tx)).size, JSON.stringify(atResume.writes)).to.equal(1);
    // PostgreSQL's own count: one write transaction for the whole login.
    expect(atResume.xids).to.equal(1);

    const rows = await signInAudit(user.id);
    expect(rows.map((r) => r.action)).to.deep.equal(['auth.password.verified', 'auth.signin.succeeded']);
    expect(rows[1].details).to.not.have.property('written_late');
    const row = await t.service.db('users').where({ id: user.id }).first('last_login_at');
    expect(row.last_login_at).to.be.an.instanceOf(Date);
    expect(await engineRows(user.id)).to.deep.equal(['Grant', 'Session']);
  });

  it("a tenant member on a platform client: the grant's tenant row joins the same one transaction", async () => {
    const user = await createUser(t);
    const [tenant] = await t.service
      .db('tenants')
      .insert({ slug: `writes-${Date.now()}`, name: 'Writes' })
      .returning('id');
    await t.service.db('memberships').insert({ tenant_id: tenant.id, user_id: user.id, status: 'active' });
    const ua = new UserAgent(t.url);
    const post = await passwordPost(ua, user);
    expect(post.status).to.equal(303);
    const atResume = await recordWrites(t.service.db, async () => {
      await callbackOf(ua, post);
    });
    expect(atResume.writes.map((w) => w.what)).to.include('grant_tenants');
    expect(new Set(atResume.writes.map((w) => w.tx)).size, JSON.stringify(atResume.writes)).to.equal(1);
    expect(atResume.xids).to.equal(1);
    const bound = await t.service.db('grant_tenants').where({ account_id: user.id }).pluck('tenant_id');
    expect(bound).to.deep.equal([tenant.id]);
  });

  it('after earlier failures the counter reset joins the same transaction', async () => {
    const user = await createUser(t);
    const wrong = await passwordPost(new UserAgent(t.url), user, `${user.password}x`);
    expect(wrong.status).to.equal(400);
    expect(await failures(user.id)).to.equal(1);

    const ua = new UserAgent(t.url);
    const m = await recordWrites(t.service.db, async () => {
      await callbackOf(ua, await passwordPost(ua, user));
    });
    expect(m.writes.map((w) => w.what)).to.deep.equal([
      'oidc_models:Grant',
      'oidc_models:Session',
      'auth_failure_counters',
      'audit_events',
      'users',
      'audit_events',
    ]);
    expect(new Set(m.writes.map((w) => w.tx)).size).to.equal(1);
    expect(m.xids).to.equal(1);
    expect(await failures(user.id)).to.equal(0);
  });

  it('a wrong password is written at once (count and audit in one transaction), never deferred', async () => {
    const user = await createUser(t);
    const m = await recordWrites(t.service.db, async () => {
      expect((await passwordPost(new UserAgent(t.url), user, 'not the password at all')).status).to.equal(400);
    });
    expect(m.writes.map((w) => w.what)).to.deep.equal(['auth_failure_counters', 'audit_events']);
    expect(new Set(m.writes.map((w) => w.tx)).size).to.equal(1);
    expect(m.xids).to.equal(1);
    const failed = await t.service.db('audit_events').where({ target_id: user.id, action: 'auth.password.failed' }).first('details');
    expect(failed.details).to.include({ reason: 'wrong_password', failed_count: 1 });
  });

  it('a failure counted between the password and the resume is not wiped out by the deferred reset (ADR-0012)', async () => {
    const user = await createUser(t);
    expect((await passwordPost(new UserAgent(t.url), user, 'wrong one')).status).to.equal(400);
    const ua = new UserAgent(t.url);
    const post = await passwordPost(ua, user);
    expect(post.status).to.equal(303);
    // Someone else guesses before the browser comes back.
    expect((await passwordPost(new UserAgent(t.url), user, 'wrong two')).status).to.equal(400);
    expect(await failures(user.id)).to.equal(2);

    expect((await callbackOf(ua, post)).searchParams.get('code')).to.be.a('string');
    expect(await failures(user.id)).to.equal(2);
    expect((await signInAudit(user.id)).map((r) => r.action)).to.deep.equal(['auth.password.verified', 'auth.signin.succeeded']);
  });

  it("a login never resumed is still audited: the sweep writes its rows late, marked so; a resume after that writes only the engine's", async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const post = await passwordPost(ua, user);
    expect(post.status).to.equal(303);
    expect(await signInAudit(user.id)).to.deep.equal([]);

    expect(await lateSweep()).to.be.at.least(1);
    const rows = await signInAudit(user.id);
    expect(rows.map((r) => r.action)).to.deep.equal(['auth.password.verified', 'auth.signin.succeeded']);
    for (const r of rows) expect(r.details).to.include({ written_late: true }).and.to.have.property('occurred_at');
    expect((await t.service.db('users').where({ id: user.id }).first('last_login_at')).last_login_at).to.be.an.instanceOf(Date);
    // Written once: a second sweep finds nothing of it.
    await lateSweep();
    expect(await signInAudit(user.id)).to.have.length(2);

    const m = await recordWrites(t.service.db, async () => {
      await callbackOf(ua, post);
    });
    expect(m.writes.map((w) => w.what)).to.deep.equal(['oidc_models:Grant', 'oidc_models:Session']);
    expect(m.xids).to.equal(1);
    expect(await signInAudit(user.id)).to.have.length(2);
  });

  it('a second record for one interaction (a form sent twice) is refused, never written over the first', async () => {
    const queue = createSignInWriteQueue({ db: t.service.db, store: t.service.store, logger: testLogger });
    const record = (requestId: string) => ({
      interaction: 'twice-uid-0001',
      userId: '00000000-0000-0000-0000-000000000001',
      at: new Date().toISOString(),
      password: [],
      audit: { action: 'auth.signin.succeeded', actor: { type: 'user' as const }, requestId },
    });
    await queue.leave(record('first'));
    let refused: unknown;
    await queue.leave(record('second')).catch((err: unknown) => {
      refused = err;
    });
    expect(String(refused)).to.match(/already waiting/);
    const claimed = await queue.claim('twice-uid-0001');
    expect(claimed).to.not.equal(undefined);
    expect(await queue.claim('twice-uid-0001')).to.equal(undefined);
    // What was claimed is the first record: its audit row carries the first request id.
    await t.service.db.transaction(async (trx) => {
      await claimed?.write(trx);
    });
    expect(
      await t.service
        .db('audit_events')
        .where({ action: 'auth.signin.succeeded' })
        .whereIn('request_id', ['first', 'second'])
        .pluck('request_id'),
    ).to.deep.equal(['first']);
  });

  it("when the resume transaction fails: 503, no code, no cookie, nothing stored — and IAM's rows are kept for the sweep", async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const post = await passwordPost(ua, user);
    expect(post.status).to.equal(303);
    const db = t.service.db;
    await db.raw(`create or replace function test_refuse_session() returns trigger language plpgsql as $$
      begin raise exception 'refused by test'; end $$`);
    await db.raw(`create trigger test_refuse_session before insert on oidc_models for each row
      when (new.model = 'Session' and new.account_id = '${user.id}') execute function test_refuse_session()`);
    let resumed: HttpResponse;
    try {
      const jar = new Map(ua.jar);
      resumed = await ua.follow(post);
      expect(resumed.status, resumed.text.slice(0, 300)).to.equal(503);
      expect(resumed.location).to.equal(null);
      expect(resumed.headers.getSetCookie()).to.deep.equal([]);
      expect([...ua.jar.keys()].sort()).to.deep.equal([...jar.keys()].sort());
    } finally {
      await db.raw('drop trigger test_refuse_session on oidc_models');
      await db.raw('drop function test_refuse_session()');
    }
    expect(await engineRows(user.id)).to.deep.equal([]);
    expect(await signInAudit(user.id)).to.deep.equal([]);

    expect(await lateSweep()).to.be.at.least(1);
    expect((await signInAudit(user.id)).map((r) => r.action)).to.deep.equal(['auth.password.verified', 'auth.signin.succeeded']);
  });
});
