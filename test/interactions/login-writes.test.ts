import { expect } from 'chai';
import type { Knex } from 'knex';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { authorizeUrl, callbackOf, createUser, passwordSignIn, type TestUser, UserAgent, webClient } from './support.ts';

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
 * statement: IAM's own writes are one transaction; the engine adds its Session and (first-party
 * client, new session) Grant rows (ADR-0010: durable models in PostgreSQL).
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

  async function signIn(user: TestUser): Promise<URL> {
    const ua = new UserAgent(t.url);
    const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, user.password);
    expect(response.status, response.text.slice(0, 300)).to.equal(303);
    return callbackOf(ua, response);
  }

  /** The IAM (non-engine) writes, grouped by transaction. */
  const ours = (writes: Write[]) => {
    const byTx = new Map<string, string[]>();
    for (const w of writes.filter((x) => !x.what.startsWith('oidc_models:'))) byTx.set(w.tx, [...(byTx.get(w.tx) ?? []), w.what]);
    return [...byTx.values()];
  };

  it('a clean password sign-in: IAM writes one transaction (two audit rows, last_login_at), the engine its Session and Grant', async () => {
    const user = await createUser(t);
    let callback: URL | undefined;
    const m = await recordWrites(t.service.db, async () => {
      callback = await signIn(user);
    });
    expect(callback?.searchParams.get('code')).to.be.a('string');

    expect(ours(m.writes), JSON.stringify(m.writes)).to.deep.equal([['audit_events', 'users', 'audit_events']]);
    expect(m.writes.filter((w) => w.what.startsWith('oidc_models:')).map((w) => w.what)).to.have.members([
      'oidc_models:Grant',
      'oidc_models:Session',
    ]);
    // The account lookup could charge the failure counter; a clean account is far below the threshold.
    expect(m.conditional).to.deep.equal(['auth_failure_counters']);
    // PostgreSQL's own count: three write transactions (IAM's, the Grant's, the Session's), so the
    // lookup wrote nothing.
    expect(m.xids).to.equal(3);

    const rows = await t.service
      .db('audit_events')
      .where({ target_id: user.id })
      .whereIn('action', ['auth.password.verified', 'auth.signin.succeeded'])
      .orderBy('chain_seq')
      .pluck('action');
    expect(rows).to.deep.equal(['auth.password.verified', 'auth.signin.succeeded']);
    const row = await t.service.db('users').where({ id: user.id }).first('last_login_at');
    expect(row.last_login_at).to.be.an.instanceOf(Date);
  });

  it('after earlier failures the counter reset joins the same transaction', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const { response: wrong } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, `${user.password}x`);
    expect(wrong.status).to.equal(400);
    expect(await t.service.db('auth_failure_counters').where({ user_id: user.id, factor: 'password' }).first('failed_count')).to.deep.equal(
      {
        failed_count: 1,
      },
    );

    const m = await recordWrites(t.service.db, async () => {
      await signIn(user);
    });
    expect(ours(m.writes), JSON.stringify(m.writes)).to.deep.equal([['auth_failure_counters', 'audit_events', 'users', 'audit_events']]);
    expect(m.xids).to.equal(3);
    expect(await t.service.db('auth_failure_counters').where({ user_id: user.id, factor: 'password' }).first('failed_count')).to.deep.equal(
      {
        failed_count: 0,
      },
    );
  });

  it('a wrong password is written at once (count and audit in one transaction), never deferred', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const m = await recordWrites(t.service.db, async () => {
      const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, 'not the password at all');
      expect(response.status).to.equal(400);
    });
    expect(ours(m.writes)).to.deep.equal([['auth_failure_counters', 'audit_events']]);
    expect(m.xids).to.equal(1);
    const failed = await t.service.db('audit_events').where({ target_id: user.id, action: 'auth.password.failed' }).first('details');
    expect(failed.details).to.include({ reason: 'wrong_password', failed_count: 1 });
  });
});
