import { expect } from 'chai';
import {
  type ClientCache,
  type CreateClientInput,
  createClient,
  createClientCache,
  deleteClient,
  hashClientSecret,
  rotateClientSecret,
  updateClient,
} from '../../src/clients/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { testLogger } from '../support/services.ts';
import { actor, listeningCache, sleep, waitUntil } from './support.ts';

const service: CreateClientInput = { name: 'svc', grant_types: ['client_credentials'], allowed_resources: ['https://api.example.test'] };

const hex = (bufs: Buffer[]) => bufs.map((b) => b.toString('hex')).sort();

describe('client lookup cache', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  const caches: ClientCache[] = [];
  before(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    for (const c of caches.splice(0)) await c.close();
  });
  after(async () => {
    await database?.drop();
  });

  const track = (c: ClientCache) => {
    caches.push(c);
    return c;
  };

  it('serves repeated lookups from memory', async () => {
    const cache = track(createClientCache({ db: database.db, logger: testLogger }));
    const { client } = await createClient(database.db, service, actor);
    const first = await cache.get(client.client_id);
    expect(first?.client.client_id).to.equal(client.client_id);
    expect(first?.usable).to.equal(true);
    for (let i = 0; i < 5; i++) expect(await cache.get(client.client_id)).to.equal(first);
    expect(cache.stats()).to.include({ misses: 1, hits: 5, size: 1 });
    // Ids that cannot exist never reach the database.
    expect(await cache.get('x')).to.equal(undefined);
    expect(await cache.get('has space')).to.equal(undefined);
    expect(cache.stats().misses).to.equal(1);
  });

  it('a change made through one instance is seen by another within a second (NOTIFY)', async () => {
    const a = track(await listeningCache(database.db, database.url));
    const b = track(await listeningCache(database.db, database.url));
    const { client } = await createClient(database.db, service, actor);
    for (const c of [a, b]) expect((await c.get(client.client_id))?.usable).to.equal(true);

    await updateClient(database.db, client.client_id, { status: 'disabled' }, actor);
    const seen = await waitUntil(async () => (await b.get(client.client_id))?.usable === false, 1_000);
    expect(seen).to.be.lessThan(1_000);
    expect((await a.get(client.client_id))?.client.status).to.equal('disabled');
    expect(await b.validSecretHashes(client.client_id)).to.deep.equal([]);

    await updateClient(database.db, client.client_id, { status: 'active', allowed_scopes: ['notes:read'] }, actor);
    await waitUntil(async () => (await b.get(client.client_id))?.client.allowed_scopes[0] === 'notes:read', 1_000);

    await deleteClient(database.db, client.client_id, actor);
    await waitUntil(async () => (await b.get(client.client_id)) === undefined, 1_000);
    expect(b.stats().invalidations).to.be.greaterThan(2);
  });

  it('remembers unknown ids briefly; a creation anywhere ends that at once', async () => {
    const listening = track(await listeningCache(database.db, database.url, { negativeTtlMs: 60_000 }));
    const deaf = track(createClientCache({ db: database.db, logger: testLogger, negativeTtlMs: 300 }));
    const id = `later-${Date.now()}`;
    expect(await listening.get(id)).to.equal(undefined);
    expect(await deaf.get(id)).to.equal(undefined);
    await createClient(database.db, { ...service, client_id: id }, actor);
    await waitUntil(async () => (await listening.get(id)) !== undefined, 1_000);
    // Without notifications, the negative entry holds until its short TTL passes.
    expect(await deaf.get(id)).to.equal(undefined);
    await sleep(350);
    expect((await deaf.get(id))?.client.client_id).to.equal(id);
  });

  it('without notifications a change shows after the TTL', async () => {
    const cache = track(createClientCache({ db: database.db, logger: testLogger, ttlMs: 300 }));
    const { client } = await createClient(database.db, service, actor);
    await cache.get(client.client_id);
    await updateClient(database.db, client.client_id, { name: 'renamed' }, actor);
    expect((await cache.get(client.client_id))?.client.name).to.equal('svc');
    await sleep(350);
    expect((await cache.get(client.client_id))?.client.name).to.equal('renamed');
  });

  it('does not keep a load that raced with an invalidation', async () => {
    const cache = track(createClientCache({ db: database.db, logger: testLogger }));
    const { client } = await createClient(database.db, service, actor);
    const pending = cache.get(client.client_id);
    cache.invalidate(client.client_id);
    expect((await pending)?.client.client_id).to.equal(client.client_id);
    expect(cache.stats().size).to.equal(0);
    await cache.get(client.client_id);
    expect(cache.stats().size).to.equal(1);
  });

  it('clients of a suspended tenant are unusable and have no valid secrets', async () => {
    const cache = track(createClientCache({ db: database.db, logger: testLogger }));
    const [tenant] = await database
      .db('tenants')
      .insert({ slug: `t${Date.now()}`, name: 'T' })
      .returning('id');
    const { client } = await createClient(database.db, { ...service, tenant_id: tenant.id }, actor);
    expect((await cache.get(client.client_id))?.usable).to.equal(true);
    await database.db('tenants').where({ id: tenant.id }).update({ status: 'suspended', suspended_at: database.db.fn.now() });
    // The tenant module announces it with notifyClientsChanged(trx) (every client); here by hand.
    cache.invalidate();
    expect((await cache.get(client.client_id))?.usable).to.equal(false);
    expect(await cache.validSecretHashes(client.client_id)).to.deep.equal([]);
  });

  it('evicts the least recently used entries beyond maxEntries', async () => {
    const cache = track(createClientCache({ db: database.db, logger: testLogger, maxEntries: 2 }));
    for (const id of ['aaa', 'bbb', 'ccc']) await cache.get(id);
    expect(cache.stats().size).to.equal(2);
  });

  describe('secret rotation overlap', () => {
    it('the old secret stays valid until the overlap ends, then not', async () => {
      const cache = track(await listeningCache(database.db, database.url));
      const { client, secret } = await createClient(database.db, service, actor);
      const old = hashClientSecret(secret as string);
      expect(hex(await cache.validSecretHashes(client.client_id))).to.deep.equal(hex([old]));

      const rotated = await rotateClientSecret(database.db, client.client_id, { overlapSeconds: 1 }, actor);
      const fresh = hashClientSecret(rotated.secret);
      await waitUntil(async () => (await cache.validSecretHashes(client.client_id)).length === 2, 1_000);
      expect(hex(await cache.validSecretHashes(client.client_id))).to.deep.equal(hex([old, fresh]));

      // No notification marks the end of an overlap: the cached expiry is checked at each use.
      const expiresAt = Date.parse(rotated.previous_secrets[0]?.expires_at as string);
      await sleep(Math.max(0, expiresAt - Date.now()) + 50);
      expect(hex(await cache.validSecretHashes(client.client_id))).to.deep.equal(hex([fresh]));
      expect(cache.stats().size).to.equal(1);
    });

    it('overlap 0 retires the old secret at once on every instance', async () => {
      const cache = track(await listeningCache(database.db, database.url));
      const { client, secret } = await createClient(database.db, service, actor);
      expect(await cache.validSecretHashes(client.client_id)).to.have.length(1);
      const rotated = await rotateClientSecret(database.db, client.client_id, { overlapSeconds: 0 }, actor);
      await waitUntil(
        async () => hex(await cache.validSecretHashes(client.client_id))[0] === hashClientSecret(rotated.secret).toString('hex'),
        1_000,
      );
      expect(hex(await cache.validSecretHashes(client.client_id))).not.to.include(hashClientSecret(secret as string).toString('hex'));
    });
  });
});
