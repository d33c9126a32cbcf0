import { expect } from 'chai';
import { idempotent, purgeExpiredIdempotencyKeys, requestHash } from '../../src/tenancy/idempotency.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

describe('idempotency records', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  const spec = (key: string, body: unknown = { a: 1 }) => ({ actor: 'user:u1', key, method: 'POST', path: '/v1/x', body, ttlSeconds: 60 });

  it('hashes requests canonically: member order does not matter, values and routes do', () => {
    expect(
      requestHash('post', '/p', { a: 1, b: [{ c: 1, d: 2 }] }).equals(requestHash('POST', '/p', { b: [{ d: 2, c: 1 }], a: 1 })),
    ).to.equal(true);
    expect(requestHash('POST', '/p', { a: 1 }).equals(requestHash('POST', '/p', { a: 2 }))).to.equal(false);
    expect(requestHash('POST', '/p', { a: 1 }).equals(requestHash('POST', '/q', { a: 1 }))).to.equal(false);
  });

  it('runs once per key, replays, refuses malformed keys, and purges expired records', async () => {
    const db = database.db;
    let runs = 0;
    const create = async () => {
      runs++;
      return { status: 201, body: { n: runs }, headers: { Location: '/v1/x/1' } };
    };
    const first = await db.transaction((trx) => idempotent(trx, spec('k1'), create));
    const second = await db.transaction((trx) => idempotent(trx, spec('k1', { a: 1 }), create));
    expect(first).to.deep.include({ replayed: false, body: { n: 1 } });
    expect(second).to.deep.include({ replayed: true, status: 201, body: { n: 1 }, headers: { Location: '/v1/x/1' } });
    expect(runs).to.equal(1);
    let error: unknown;
    await db.transaction((trx) => idempotent(trx, spec('bad key with spaces'), create)).catch((e) => (error = e));
    expect(error).to.have.property('code', 'validation_failed');
    // A failed create leaves no record: the key can be used again.
    await db
      .transaction((trx) =>
        idempotent(trx, spec('k2'), async () => {
          throw new Error('boom');
        }),
      )
      .catch(() => undefined);
    expect(await db('idempotency_keys').where({ key: 'k2' }).first()).to.equal(undefined);

    await db('idempotency_keys')
      .where({ key: 'k1' })
      .update({ created_at: db.raw(`now() - interval '2 hours'`), expires_at: db.raw(`now() - interval '1 hour'`) });
    // An expired key starts a new life rather than replaying.
    const renewed = await db.transaction((trx) => idempotent(trx, spec('k1', { a: 9 }), create));
    expect(renewed).to.deep.include({ replayed: false, body: { n: 2 } });
    await db('idempotency_keys').update({
      created_at: db.raw(`now() - interval '2 hours'`),
      expires_at: db.raw(`now() - interval '1 hour'`),
    });
    expect(await purgeExpiredIdempotencyKeys(db, 1)).to.equal(1);
    expect(await db('idempotency_keys').first('id')).to.equal(undefined);
  });
});
