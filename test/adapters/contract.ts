import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import { MemoryBackend, PostgresBackend, RedisBackend } from '../../adapters/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { services, testLogger } from '../support/services.ts';

/** One storage backend under test, with a view of what it really stores. */
export interface Backend {
  adapterFor(model: string): Adapter;
  /** Everything the backend holds (rows, keys and values) as text. */
  raw(): Promise<string>;
  /** PostgreSQL only: run SQL on the backing database (to age rows). */
  sql?(text: string, bindings?: unknown[]): Promise<unknown>;
  purgeExpired?(opts?: { batchSize?: number }): Promise<number>;
  close(): Promise<void>;
}

export const ALL_MODELS = [
  'Grant',
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'DeviceCode',
  'Interaction',
  'ReplayDetection',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
  'PushedAuthorizationRequest',
];
export const CONSUMABLE = [
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
  'PushedAuthorizationRequest',
];
/** Models whose stored form must not contain the token value anywhere (ADR-0010). */
export const HASHED_AT_REST = ALL_MODELS.filter((m) => !['Grant', 'Session', 'DeviceCode'].includes(m));

export const tokenValue = () => randomBytes(32).toString('base64url');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function payloadFor(model: string, id: string, extra: Record<string, unknown> = {}): AdapterPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iat: now, exp: now + 60, jti: id, kind: model, clientId: 'client-1', accountId: 'acct-1', scope: 'openid', ...extra };
}

export async function postgresBackend(): Promise<Backend> {
  const t = await createTestDatabase();
  const b = new PostgresBackend(t.db);
  return {
    adapterFor: (m) => b.adapterFor(m),
    raw: async () => JSON.stringify((await t.db.raw('select * from oidc_models')).rows),
    sql: (text, bindings = []) => t.db.raw(text, bindings as never[]),
    purgeExpired: (opts) => b.purgeExpired(opts),
    close: () => t.drop(),
  };
}

/** Every key under a prefix with its value, read with a plain client. */
export async function dumpRedis(prefix: string): Promise<Array<[string, unknown]>> {
  const r = new Redis(services.redisUrl);
  try {
    const keys = await r.keys(`${prefix}*`);
    const out: Array<[string, unknown]> = [];
    for (const k of keys) {
      const type = await r.type(k);
      if (type === 'hash') out.push([k, await r.hgetall(k)]);
      else if (type === 'zset') out.push([k, await r.zrange(k, 0, -1, 'WITHSCORES')]);
      else if (type === 'string') out.push([k, await r.get(k)]);
    }
    return out;
  } finally {
    r.disconnect();
  }
}

export async function dropRedisKeys(prefix: string): Promise<void> {
  const r = new Redis(services.redisUrl);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
}

export async function redisBackend(): Promise<Backend> {
  const prefix = `iam-test-adapters-${randomUUID()}:`;
  const b = new RedisBackend({ url: services.redisUrl, keyPrefix: prefix, logger: testLogger });
  await b.ready();
  return {
    adapterFor: (m) => b.adapterFor(m),
    raw: async () => JSON.stringify(await dumpRedis(prefix)),
    close: async () => {
      await dropRedisKeys(prefix);
      await b.close();
    },
  };
}

export async function memoryBackend(): Promise<Backend> {
  const b = new MemoryBackend();
  return { adapterFor: (m) => b.adapterFor(m), raw: async () => b.inspectRaw(), close: async () => b.close() };
}

/** The behaviour every backend must show for every model it can serve. */
export function adapterContract(name: string, makeBackend: () => Promise<Backend>): void {
  describe(`oidc adapter contract: ${name}`, () => {
    let backend: Backend;
    before(async function () {
      this.timeout(60_000);
      backend = await makeBackend();
    });
    after(async () => {
      await backend?.close();
    });
    const a = (model: string) => backend.adapterFor(model);

    it('round-trips the payload of every model by id (jti restored), and misses unknown ids', async () => {
      for (const model of ALL_MODELS) {
        const id = tokenValue();
        const payload = payloadFor(model, id, { grantId: 'g-roundtrip', extra: { nested: [1, 'two'] } });
        await a(model).upsert(id, payload, 60);
        expect(await a(model).find(id), model).to.deep.equal(payload);
        expect(await a(model).find(tokenValue()), model).to.equal(undefined);
      }
    });

    it('replaces on upsert', async () => {
      const id = tokenValue();
      await a('AccessToken').upsert(id, payloadFor('AccessToken', id, { scope: 'a' }), 60);
      await a('AccessToken').upsert(id, payloadFor('AccessToken', id, { scope: 'b' }), 60);
      expect((await a('AccessToken').find(id))?.scope).to.equal('b');
    });

    it('treats items past expiresIn as absent', async () => {
      const ids = ['AccessToken', 'Session', 'RefreshToken'].map((model) => [model, tokenValue()] as const);
      for (const [model, id] of ids) await a(model).upsert(id, payloadFor(model, id, { uid: `u-${id}` }), 1);
      for (const [model, id] of ids) expect(await a(model).find(id), model).to.not.equal(undefined);
      await sleep(1_300);
      for (const [model, id] of ids) expect(await a(model).find(id), model).to.equal(undefined);
      expect(await a('Session').findByUid(`u-${ids[1]?.[1]}`)).to.equal(undefined);
    });

    it('consume marks every consumable model consumed (epoch seconds) and keeps its payload', async () => {
      for (const model of CONSUMABLE) {
        const id = tokenValue();
        const payload = payloadFor(model, id);
        await a(model).upsert(id, payload, 60);
        const before = Math.floor(Date.now() / 1000);
        await a(model).consume(id);
        const found = await a(model).find(id);
        expect(found?.consumed, model)
          .to.be.a('number')
          .within(before - 1, before + 2);
        expect({ ...found, consumed: undefined }, model).to.deep.equal({ ...payload, consumed: undefined });
      }
    });

    it('20 parallel consumes of one item: exactly one succeeds, 19 fail with InvalidGrant', async () => {
      for (const model of ['AuthorizationCode', 'RefreshToken']) {
        const id = tokenValue();
        await a(model).upsert(id, payloadFor(model, id), 60);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => a(model).consume(id)));
        expect(
          results.filter((r) => r.status === 'fulfilled'),
          model,
        ).to.have.length(1);
        const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(rejected, model).to.have.length(19);
        for (const r of rejected) expect(r.reason).to.be.instanceOf(errors.InvalidGrant);
      }
    });

    it('consume of a missing item fails with InvalidGrant; a re-save never revives a consumed item', async () => {
      await a('AuthorizationCode')
        .consume(tokenValue())
        .then(
          () => expect.fail('consume of a missing item must fail'),
          (err) => expect(err).to.be.instanceOf(errors.InvalidGrant),
        );
      const id = tokenValue();
      await a('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 60);
      await a('RefreshToken').consume(id);
      await a('RefreshToken').upsert(id, payloadFor('RefreshToken', id, { scope: 'again' }), 60);
      const found = await a('RefreshToken').find(id);
      expect(found?.scope).to.equal('again');
      expect(found?.consumed).to.be.a('number');
    });

    it('ReplayDetection writes are create-only: of 20 parallel writes of one id exactly one succeeds', async () => {
      const id = tokenValue();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => a('ReplayDetection').upsert(id, payloadFor('ReplayDetection', id, { iss: 'c' }), 60)),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).to.be.instanceOf(errors.InvalidRequest);
      // Once expired the id is free again.
      const short = tokenValue();
      await a('ReplayDetection').upsert(short, payloadFor('ReplayDetection', short), 1);
      await sleep(1_100);
      await a('ReplayDetection').upsert(short, payloadFor('ReplayDetection', short), 60);
    });

    it('destroy removes the item and its indexes', async () => {
      const id = tokenValue();
      await a('AccessToken').upsert(id, payloadFor('AccessToken', id), 60);
      await a('AccessToken').destroy(id);
      expect(await a('AccessToken').find(id)).to.equal(undefined);
      const sid = tokenValue();
      await a('Session').upsert(sid, payloadFor('Session', sid, { uid: `uid-${sid}` }), 60);
      await a('Session').destroy(sid);
      expect(await a('Session').findByUid(`uid-${sid}`)).to.equal(undefined);
      await a('Session').destroy(tokenValue());
    });

    it("revokeByGrantId removes only that grant's items of that model", async () => {
      const [g1, g2] = [`g1-${randomUUID()}`, `g2-${randomUUID()}`];
      const at1 = [tokenValue(), tokenValue()];
      const at2 = tokenValue();
      const rt1 = tokenValue();
      for (const id of at1) await a('AccessToken').upsert(id, payloadFor('AccessToken', id, { grantId: g1 }), 60);
      await a('AccessToken').upsert(at2, payloadFor('AccessToken', at2, { grantId: g2 }), 60);
      await a('RefreshToken').upsert(rt1, payloadFor('RefreshToken', rt1, { grantId: g1 }), 60);
      await a('AccessToken').revokeByGrantId(g1);
      for (const id of at1) expect(await a('AccessToken').find(id)).to.equal(undefined);
      expect(await a('AccessToken').find(at2)).to.not.equal(undefined);
      expect(await a('RefreshToken').find(rt1)).to.not.equal(undefined);
      await a('RefreshToken').revokeByGrantId(g1);
      expect(await a('RefreshToken').find(rt1)).to.equal(undefined);
      await a('AccessToken').revokeByGrantId(`unknown-${randomUUID()}`);
    });

    it('findByUid finds sessions (jti included); findByUserCode finds device codes (jti included)', async () => {
      const sid = tokenValue();
      const session = payloadFor('Session', sid, { uid: `uid-${sid}`, loginTs: 1 });
      await a('Session').upsert(sid, session, 60);
      expect(await a('Session').findByUid(`uid-${sid}`)).to.deep.equal(session);
      expect(await a('Session').findByUid('no-such-uid')).to.equal(undefined);

      const dc = tokenValue();
      const userCode = randomBytes(4).toString('hex').toUpperCase();
      const device = payloadFor('DeviceCode', dc, { userCode, grantId: 'g-device' });
      await a('DeviceCode').upsert(dc, device, 60);
      expect(await a('DeviceCode').findByUserCode(userCode)).to.deep.equal(device);
      expect(await a('DeviceCode').findByUserCode('NOPE1234')).to.equal(undefined);
      await a('DeviceCode').consume(dc);
      expect((await a('DeviceCode').findByUserCode(userCode))?.consumed).to.be.a('number');
      await a('DeviceCode').destroy(dc);
      expect(await a('DeviceCode').findByUserCode(userCode)).to.equal(undefined);
    });

    it('stores bearer artefacts under sha256 of their value: the value appears nowhere at rest', async () => {
      const values = HASHED_AT_REST.map((model) => [model, tokenValue()] as const);
      for (const [model, id] of values) await a(model).upsert(id, payloadFor(model, id, { grantId: 'g-hash' }), 60);
      const [, rt] = values.find(([m]) => m === 'RefreshToken') ?? ['', ''];
      await a('RefreshToken').consume(rt);
      const raw = await backend.raw();
      for (const [model, id] of values) {
        expect(raw.includes(id), `${model} value found at rest`).to.equal(false);
        expect(await a(model).find(id), model).to.not.equal(undefined);
      }
      // Grant and Session ids are references, not bearer values: stored as given (ADR-0010).
      const gid = tokenValue();
      await a('Grant').upsert(gid, payloadFor('Grant', gid), 60);
      expect((await backend.raw()).includes(gid)).to.equal(true);
    });
  });
}
