import { expect } from 'chai';
import { Registry } from 'prom-client';
import { AUTHZ_REVISION_CHANNEL, type CheckService, createCheckService, listenForAuthzRevisions } from '../../src/authz/check-service.ts';
import { loadPrincipalGrants } from '../../src/authz/grants-store.ts';
import { createAuthzMetrics } from '../../src/authz/metrics.ts';
import { AppError } from '../../src/errors/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { testLogger } from '../support/services.ts';
import { bind, checkWorld, createMember, override, revisionOf, team, tenantScope } from './support.ts';

async function waitUntil(fn: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await fn()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe('authz check service (cache, revisions, invalidation)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  const services: CheckService[] = [];
  before(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.close();
  });
  after(async () => {
    await database?.drop();
  });
  const db = () => database.db;
  const make = (opts: Partial<Parameters<typeof createCheckService>[0]> = {}) => {
    const s = createCheckService({ db: db(), logger: testLogger, loadGrants: counted, ...opts });
    services.push(s);
    return s;
  };
  const listening = async (opts: Partial<Parameters<typeof createCheckService>[0]> = {}) => {
    const s = make({ listen: listenForAuthzRevisions({ url: database.url, logger: testLogger }), ...opts });
    // LISTEN is established asynchronously; a notification proves it.
    const before = s.stats().notifications;
    await waitUntil(async () => {
      await db().raw('select pg_notify(?, ?)', [AUTHZ_REVISION_CHANNEL, 'probe']);
      return s.stats().notifications > before;
    }, 5_000);
    return s;
  };
  /** Snapshot reads from PostgreSQL, counted for the services made with `counted`. */
  let reads = 0;
  const counted: typeof loadPrincipalGrants = (...args) => {
    reads++;
    return loadPrincipalGrants(...args);
  };
  const queries = async (fn: () => Promise<unknown>) => {
    const before = reads;
    await fn();
    return reads - before;
  };

  it('serves repeated checks of a principal from one snapshot read', async () => {
    const w = await checkWorld(db());
    await bind(db(), w.tenantId, w.alice, w.editor, team('t1'));
    const s = make();
    const n = await queries(async () => {
      await Promise.all(Array.from({ length: 10 }, () => s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])));
      for (let i = 0; i < 10; i++) expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed).to.equal(true);
      await s.listEffective(w.tenantId, w.alice, [team('t1')]);
      await s.batchCheck(w.tenantId, w.alice, [{ permission: 'iam.roles.read', chain: [] }]);
    });
    expect(n).to.equal(1);
    expect(s.stats()).to.include({ size: 1, hits: 12 });
  });

  it('counts decisions and snapshot lookups on the registry it is given, the same on every scrape', async () => {
    const registry = new Registry();
    const w = await checkWorld(db());
    await bind(db(), w.tenantId, w.alice, w.editor, team('t1'));
    const s = make({ metrics: createAuthzMetrics(registry) });
    expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed).to.equal(true);
    expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed).to.equal(true);
    expect((await s.check(w.tenantId, w.alice, 'iam.nothing.granted', [team('t1')])).allowed).to.equal(false);
    const err = await s.check(w.tenantId, w.alice, 'iam.members.read', [], { minRevision: 1e12 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AppError).with.property('code', 'revision_not_visible');
    for (let scrape = 0; scrape < 2; scrape++) {
      const text = await registry.metrics();
      expect(text).to.include('iam_authz_decisions_total{allowed="true",reason="binding"} 2');
      expect(text).to.include('iam_authz_decisions_total{allowed="false",reason="no_grant"} 1');
      expect(text).to.include('iam_authz_decisions_total{allowed="false",reason="override"} 0');
      expect(text).to.include('iam_authz_grants_cache_total{result="hit"} 2');
      expect(text).to.include('iam_authz_grants_cache_total{result="miss"} 2');
      expect(text).to.include('iam_authz_grants_cache_total{result="stale"} 1');
      expect(text).to.include('iam_authz_revision_not_visible_total 1');
      expect(text).to.include('iam_authz_revision_notifications_total 0');
    }
  });

  it('a revision notification from any writer makes every listening instance re-read', async () => {
    const w = await checkWorld(db());
    const b1 = await bind(db(), w.tenantId, w.alice, w.editor, team('t1'));
    const [one, two] = [await listening(), await listening()];
    for (const s of [one, two]) expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed).to.equal(true);
    await db()('scope_bindings').where({ id: b1 }).delete();
    for (const s of [one, two]) {
      const ms = await waitUntil(async () => !(await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed, 1_000);
      expect(ms).to.be.lessThan(1_000);
    }
    // Other tenants' snapshots are untouched by this tenant's revision.
    const other = await checkWorld(db());
    await one.check(other.tenantId, other.admin, 'iam.authz.check', []);
    const hits = one.stats().hits;
    await bind(db(), w.tenantId, w.bob, w.editor, tenantScope(w.tenantId));
    await new Promise((r) => setTimeout(r, 100));
    expect((await one.check(other.tenantId, other.admin, 'iam.authz.check', [])).allowed).to.equal(true);
    expect(one.stats().hits).to.equal(hits + 1);
  });

  it('min_revision: re-reads a snapshot older than the revision asked for, even without notifications', async () => {
    const w = await checkWorld(db());
    const b1 = await bind(db(), w.tenantId, w.alice, w.editor, tenantScope(w.tenantId));
    const deaf = make({ ttlMs: 3_600_000 });
    const first = await deaf.check(w.tenantId, w.alice, 'iam.members.read', []);
    expect(first.allowed).to.equal(true);
    await db()('scope_bindings').where({ id: b1 }).delete();
    const revision = await revisionOf(db(), w.tenantId);
    expect(revision).to.be.greaterThan(first.revision);
    // Without a revision the deaf instance may answer from its snapshot: that is what the revision is for.
    expect((await deaf.check(w.tenantId, w.alice, 'iam.members.read', [])).revision).to.equal(first.revision);
    const fresh = await deaf.check(w.tenantId, w.alice, 'iam.members.read', [], { minRevision: revision });
    expect(fresh).to.deep.include({ allowed: false, revision });
    // ... and the fresher snapshot is what it serves from then on.
    expect((await deaf.check(w.tenantId, w.alice, 'iam.members.read', [])).allowed).to.equal(false);
  });

  it('refuses a revision the tenant has not reached, with revision_not_visible', async () => {
    const w = await checkWorld(db());
    const s = make();
    const revision = await revisionOf(db(), w.tenantId);
    try {
      await s.check(w.tenantId, w.alice, 'iam.members.read', [], { minRevision: revision + 1 });
      expect.fail('expected revision_not_visible');
    } catch (err) {
      expect(err).to.be.instanceOf(AppError);
      expect(err).to.include({ code: 'revision_not_visible', status: 409 });
    }
    expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [], { minRevision: revision })).revision).to.equal(revision);
  });

  it('evicts the least recently used snapshot past maxEntries, and re-reads after the TTL', async () => {
    const w = await checkWorld(db());
    const s = make({ maxEntries: 2, ttlMs: 150 });
    await s.check(w.tenantId, w.alice, 'iam.members.read', []);
    await s.check(w.tenantId, w.bob, 'iam.members.read', []);
    await s.check(w.tenantId, w.alice, 'iam.members.read', []);
    await s.check(w.tenantId, w.admin, 'iam.members.read', []);
    expect(s.stats().size).to.equal(2);
    // alice was used more recently than bob: bob was evicted.
    expect(await queries(() => s.check(w.tenantId, w.alice, 'iam.members.read', []))).to.equal(0);
    expect(await queries(() => s.check(w.tenantId, w.bob, 'iam.members.read', []))).to.equal(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(await queries(() => s.check(w.tenantId, w.bob, 'iam.members.read', []))).to.equal(1);
  });

  it('expiry is judged at decision time, not when the snapshot was read', async () => {
    const w = await checkWorld(db());
    let now = new Date();
    const s = make({ now: () => now });
    await bind(db(), w.tenantId, w.alice, w.editor, team('t1'), new Date(now.getTime() + 60_000));
    expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed).to.equal(true);
    now = new Date(now.getTime() + 61_000);
    expect((await s.check(w.tenantId, w.alice, 'iam.members.read', [team('t1')])).allowed).to.equal(false);
  });

  it('invalidate(tenant) drops that tenant; reconnection forgets everything', async () => {
    const w = await checkWorld(db());
    const s = make();
    await s.check(w.tenantId, w.alice, 'iam.members.read', []);
    s.invalidate(w.tenantId);
    expect(s.stats().size).to.equal(0);
    await s.check(w.tenantId, w.alice, 'iam.members.read', []);
    s.invalidate();
    expect(s.stats().size).to.equal(0);
  });

  it('bounds batches and keeps decisions separate (ids, order)', async () => {
    const w = await checkWorld(db());
    const carol = await createMember(db(), w.tenantId);
    await bind(db(), w.tenantId, carol, w.editor, tenantScope(w.tenantId));
    await override(db(), w.tenantId, carol, 'iam.roles.read', 'deny', team('t9'));
    const s = make();
    const r = await s.batchCheck(w.tenantId, carol, [
      { permission: 'iam.roles.read', chain: [team('t9')] },
      { permission: 'iam.roles.read', chain: [team('t1')] },
    ]);
    expect(r.results.map((x) => x.allowed)).to.deep.equal([false, true]);
    expect(r.results[0]?.decisionId).to.not.equal(r.results[1]?.decisionId);
    try {
      await s.batchCheck(
        w.tenantId,
        carol,
        Array.from({ length: 101 }, () => ({ permission: 'iam.roles.read', chain: [] })),
      );
      expect.fail('expected validation_failed');
    } catch (err) {
      expect(err).to.include({ code: 'validation_failed' });
    }
  });
});
