import { expect } from 'chai';
import { PostgresBackend } from '../../adapters/postgres.ts';
import { runInUnitOfWork, UnitOfWork } from '../../adapters/unit-of-work.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { payloadFor, tokenValue } from './contract.ts';

/** The request-scoped unit of work of the PostgreSQL adapter (ADR-0010, ADR-0015). */
describe('oidc adapter: postgres unit of work', () => {
  let t: TestDatabase;
  let b: PostgresBackend;
  before(async function () {
    this.timeout(60_000);
    t = await createTestDatabase();
    b = new PostgresBackend(t.db);
  });
  after(async () => {
    await t?.drop();
  });

  const rows = async (model: string, id: string) =>
    Number((await t.db.raw('select count(*)::int as n from oidc_models where model = ? and id = ?', [model, id])).rows[0].n);
  const xid = async () => Number((await t.db.raw('select pg_snapshot_xmax(pg_current_snapshot())::text as x')).rows[0].x);

  it('queues Grant and Session writes, answers reads from the queue, and flushes them in one transaction', async () => {
    const sid = tokenValue();
    const gid = tokenValue();
    const unit = new UnitOfWork();
    const before = await xid();
    await runInUnitOfWork(unit, async () => {
      await b.adapterFor('Session').upsert(sid, payloadFor('Session', sid, { uid: 'uow-uid', accountId: 'a1' }), 60);
      await b.adapterFor('Grant').upsert(gid, payloadFor('Grant', gid, { accountId: 'a1', clientId: 'c1' }), 60);
      // Nothing is in the database yet, but the request reads its own writes.
      expect(await rows('Session', sid)).to.equal(0);
      expect(await rows('Grant', gid)).to.equal(0);
      expect(await b.adapterFor('Grant').find(gid)).to.include({ accountId: 'a1', clientId: 'c1', jti: gid });
      expect(await b.adapterFor('Session').findByUid('uow-uid')).to.include({ uid: 'uow-uid', accountId: 'a1' });
    });
    expect(unit.size).to.equal(2);
    expect(await unit.flush()).to.equal(2);
    expect(await rows('Session', sid)).to.equal(1);
    expect(await rows('Grant', gid)).to.equal(1);
    // xmax moved by exactly one transaction (the flush): the reads above wrote nothing.
    expect((await xid()) - before).to.equal(1);
  });

  it('a queued delete hides the stored item and runs in the same transaction as the new one', async () => {
    const old = tokenValue();
    await b.adapterFor('Session').upsert(old, payloadFor('Session', old, { uid: 'rotating' }), 60);
    const next = tokenValue();
    const unit = new UnitOfWork();
    await runInUnitOfWork(unit, async () => {
      await b.adapterFor('Session').destroy(old);
      await b.adapterFor('Session').upsert(next, payloadFor('Session', next, { uid: 'rotating' }), 60);
      expect(await b.adapterFor('Session').find(old)).to.equal(undefined);
      expect(await rows('Session', old)).to.equal(1);
    });
    await unit.flush();
    expect(await rows('Session', old)).to.equal(0);
    expect(await rows('Session', next)).to.equal(1);
  });

  it('leaves other models alone, writes nothing when discarded, and writes directly once flushed', async () => {
    const rt = tokenValue();
    const sid = tokenValue();
    const late = tokenValue();
    const unit = new UnitOfWork();
    await runInUnitOfWork(unit, async () => {
      await b.adapterFor('RefreshToken').upsert(rt, payloadFor('RefreshToken', rt, { grantId: 'g' }), 60);
      await b.adapterFor('Session').upsert(sid, payloadFor('Session', sid, { uid: 'discarded' }), 60);
    });
    expect(unit.size).to.equal(1);
    unit.discard();
    expect(await unit.flush()).to.equal(0);
    expect(await rows('Session', sid)).to.equal(0);
    // A write after the unit closed (work the request left running) is not lost in a dead queue.
    await runInUnitOfWork(unit, () => b.adapterFor('Session').upsert(late, payloadFor('Session', late, { uid: 'late' }), 60));
    expect(await rows('Session', late)).to.equal(1);
  });

  it('a failing transaction stores nothing of the unit', async () => {
    const sid = tokenValue();
    const unit = new UnitOfWork();
    await runInUnitOfWork(unit, () => b.adapterFor('Session').upsert(sid, payloadFor('Session', sid, { uid: 'fails' }), 60));
    unit.join(t.db, async (trx) => {
      await trx.raw('select 1/0');
    });
    let failed: unknown;
    await unit.flush().catch((err: unknown) => {
      failed = err;
    });
    expect(String(failed)).to.match(/division by zero/);
    expect(await rows('Session', sid)).to.equal(0);
  });
});
