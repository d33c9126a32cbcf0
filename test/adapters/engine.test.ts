import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Provider, { type Adapter } from 'oidc-provider';
import { createAdapterFactory, PostgresBackend } from '../../adapters/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { services, testLogger } from '../support/services.ts';
import { dropRedisKeys, dumpRedis } from './contract.ts';

/** The real engine on each backend: its models and endpoints must work through our adapters. */
interface Setup {
  adapter: (name: string) => Adapter;
  /** What is at rest (PostgreSQL rows plus Redis keys), as text. */
  raw(): Promise<string>;
  close(): Promise<void>;
}

const setups: Array<[string, (t: TestDatabase) => Promise<Setup>]> = [
  [
    'postgres',
    async (t) => {
      const b = new PostgresBackend(t.db);
      return { adapter: (n) => b.adapterFor(n), raw: () => pgRows(t), close: async () => undefined };
    },
  ],
  [
    'redis',
    async (t) => {
      const keyPrefix = `iam-test-adapters-${randomUUID()}:`;
      const f = createAdapterFactory({ db: t.db, redisUrl: services.redisUrl, keyPrefix, logger: testLogger });
      await f.ready();
      return {
        adapter: f.adapterFor,
        raw: async () => (await pgRows(t)) + JSON.stringify(await dumpRedis(keyPrefix)),
        close: async () => {
          await f.close();
          await dropRedisKeys(keyPrefix);
        },
      };
    },
  ],
  [
    'memory',
    async (t) => {
      const f = createAdapterFactory({ db: t.db, keyPrefix: 'unused:', logger: testLogger });
      return { adapter: f.adapterFor, raw: () => pgRows(t), close: () => f.close() };
    },
  ],
];

/** The typings omit `consumed` on the model instance. */
const consumedOf = (m: object | undefined) => (m as { consumed?: number } | undefined)?.consumed;

async function pgRows(t: TestDatabase): Promise<string> {
  return JSON.stringify((await t.db.raw('select * from oidc_models')).rows);
}

async function post(base: string, path: string, form: Record<string, string>) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('c:s').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

for (const [name, make] of setups) {
  describe(`oidc adapter with the real engine: ${name}`, () => {
    let t: TestDatabase;
    let s: Setup;
    let provider: Provider;
    let server: Server;
    let base: string;
    before(async function () {
      this.timeout(60_000);
      t = await createTestDatabase();
      s = await make(t);
      provider = new Provider('http://localhost', {
        adapter: s.adapter,
        clients: [{ client_id: 'c', client_secret: 's', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
        features: {
          clientCredentials: { enabled: true },
          introspection: { enabled: true },
          revocation: { enabled: true },
          devInteractions: { enabled: false },
        },
      });
      server = createServer(provider.callback()).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server?.close();
      await s?.close();
      await t?.drop();
    });

    it('round-trips an opaque ClientCredentials token through the model, hashed at rest', async () => {
      const client = await provider.Client.find('c');
      if (!client) throw new Error('static client missing');
      const value = await new provider.ClientCredentials({ client, scope: 'api' }).save();
      const found = await provider.ClientCredentials.find(value);
      expect(found?.clientId).to.equal('c');
      expect(found?.jti).to.equal(value);
      expect(found?.scope).to.equal('api');
      expect((await s.raw()).includes(value)).to.equal(false);
    });

    it('issues, introspects and revokes a client_credentials token over HTTP', async () => {
      const issued = await post(base, '/token', { grant_type: 'client_credentials' });
      expect(issued.status).to.equal(200);
      const token = issued.body.access_token as string;
      expect(token).to.be.a('string');
      expect((await s.raw()).includes(token)).to.equal(false);

      const active = await post(base, '/token/introspection', { token });
      expect(active.body).to.include({ active: true, client_id: 'c' });
      expect((await post(base, '/token/revocation', { token })).status).to.equal(200);
      expect((await post(base, '/token/introspection', { token })).body).to.deep.equal({ active: false });
    });

    it('accepts a DPoP proof / client assertion jti once even under 20 parallel uses (ReplayDetection.unique)', async () => {
      const jti = randomUUID();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => provider.ReplayDetection.unique('c', jti, exp)));
      expect(results.filter((r) => r.status === 'fulfilled' && r.value === true)).to.have.length(1);
      expect(await provider.ReplayDetection.unique('c', jti, exp)).to.equal(false);
    });

    it('lets exactly one of 20 parallel redemptions of an authorization code consume it', async () => {
      const client = await provider.Client.find('c');
      if (!client) throw new Error('static client missing');
      const value = await new provider.AuthorizationCode({
        client,
        accountId: 'acct-1',
        grantId: 'grant-1',
        redirectUri: 'https://rp.example/cb',
        scope: 'openid',
        gty: 'authorization_code',
      }).save();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, async () => {
          const code = await provider.AuthorizationCode.find(value);
          // The engine's own check (grant_common.js): a code already seen consumed is refused.
          if (!code || consumedOf(code)) throw new Error('seen consumed');
          await code.consume();
        }),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      expect(consumedOf(await provider.AuthorizationCode.find(value))).to.be.a('number');
    });
  });
}
