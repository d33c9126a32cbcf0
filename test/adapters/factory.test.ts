import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { createAdapterFactory, MemoryAdapter, PostgresAdapter, RedisAdapter, SHORT_LIVED_MODELS, sha256 } from '../../adapters/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { services, testLogger } from '../support/services.ts';
import { dropRedisKeys, payloadFor, tokenValue } from './contract.ts';

const DURABLE = ['Grant', 'Session', 'RefreshToken', 'InitialAccessToken', 'RegistrationAccessToken', 'SomeFutureModel'];

describe('oidc adapter factory', () => {
  let t: TestDatabase;
  before(async function () {
    this.timeout(60_000);
    t = await createTestDatabase();
  });
  after(async () => {
    await t?.drop();
  });

  it('without Redis: short-lived models in memory, durable ones in PostgreSQL, Client refused', async () => {
    const f = createAdapterFactory({ db: t.db, keyPrefix: 'unused:', logger: testLogger });
    try {
      expect(f.mode).to.equal('memory');
      await f.ready();
      for (const m of SHORT_LIVED_MODELS) expect(f.adapterFor(m), m).to.be.instanceOf(MemoryAdapter);
      for (const m of DURABLE) expect(f.adapterFor(m), m).to.be.instanceOf(PostgresAdapter);
      expect(f.adapterFor('AccessToken')).to.equal(f.adapterFor('AccessToken'));
      expect(() => f.adapterFor('Client')).to.throw(TypeError, /client adapter/);
    } finally {
      await f.close();
    }
  });

  it('with Redis: short-lived models in Redis under the key prefix, durable ones in PostgreSQL', async () => {
    const keyPrefix = `iam-test-adapters-${randomUUID()}:`;
    const f = createAdapterFactory({ db: t.db, redisUrl: services.redisUrl, keyPrefix, logger: testLogger });
    try {
      expect(f.mode).to.equal('redis');
      await f.ready();
      for (const m of SHORT_LIVED_MODELS) expect(f.adapterFor(m), m).to.be.instanceOf(RedisAdapter);
      for (const m of DURABLE) expect(f.adapterFor(m), m).to.be.instanceOf(PostgresAdapter);

      const code = tokenValue();
      await f.adapterFor('AuthorizationCode').upsert(code, payloadFor('AuthorizationCode', code), 60);
      const rt = tokenValue();
      await f.adapterFor('RefreshToken').upsert(rt, payloadFor('RefreshToken', rt), 60);
      const rows = (await t.db.raw('select model, id from oidc_models')).rows as { model: string; id: string }[];
      expect(rows).to.deep.include({ model: 'RefreshToken', id: sha256(rt) });
      expect(rows.map((r) => r.model)).to.not.include('AuthorizationCode');
    } finally {
      await f.close();
      await dropRedisKeys(keyPrefix);
    }
  });

  it('purgeExpired deletes expired PostgreSQL rows and reports the count', async () => {
    const f = createAdapterFactory({ db: t.db, keyPrefix: 'unused:', logger: testLogger });
    try {
      const id = tokenValue();
      await f.adapterFor('Grant').upsert(id, payloadFor('Grant', id), 60);
      await t.db.raw(`update oidc_models set expires_at = now() - interval '1 hour' where model = 'Grant' and id = ?`, [id]);
      expect(await f.purgeExpired()).to.equal(1);
      expect(await f.purgeExpired()).to.equal(0);
    } finally {
      await f.close();
    }
  });
});
