import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { TestService } from '../support/service.ts';
import { clientCredentials, makeClient, ORDERS_API, startOidcService, type TestClient, workloadClient } from './support.ts';

async function within(ms: number, fn: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await fn()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

/**
 * Issue 5: suspending a tenant stops sign-in and client_credentials for it within one second on every
 * instance, and nothing changes for other tenants.
 */
describe('oidc: tenant suspension', function () {
  this.timeout(60_000);
  let a: TestService;
  let b: TestService;
  let acme: string;
  let globex: string;
  let acmeWorkload: TestClient;
  let globexWorkload: TestClient;
  let acmeWeb: TestClient;

  before(async () => {
    a = await startOidcService();
    b = await startOidcService({}, { database: a.database, issuer: a.service.config.issuer });
    const db = a.service.db;
    [{ id: acme }] = await db('tenants').insert({ slug: 'acme-susp', name: 'Acme' }).returning('id');
    [{ id: globex }] = await db('tenants').insert({ slug: 'globex-susp', name: 'Globex' }).returning('id');
    acmeWorkload = await workloadClient(a, { tenant_id: acme });
    globexWorkload = await workloadClient(a, { tenant_id: globex });
    acmeWeb = await makeClient(a, {
      name: 'acme web',
      tenant_id: acme,
      grant_types: ['authorization_code'],
      redirect_uris: ['https://acme.example.test/cb'],
    });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await a?.database.drop();
  });

  const cc = async (t: TestService, c: TestClient) => (await clientCredentials(t, c, { resource: ORDERS_API })).status;
  const authorize = (t: TestService, c: TestClient) => {
    const verifier = randomBytes(32).toString('base64url');
    const q = new URLSearchParams({
      client_id: c.client_id,
      response_type: 'code',
      redirect_uri: 'https://acme.example.test/cb',
      scope: 'openid',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: 'st',
    });
    return fetch(`${t.url}/authorize?${q}`, { redirect: 'manual' });
  };

  it('stops client_credentials and sign-in for the tenant on both instances within a second, not for others', async () => {
    for (const t of [a, b]) {
      expect(await cc(t, acmeWorkload)).to.equal(200);
      expect(await cc(t, globexWorkload)).to.equal(200);
      expect((await authorize(t, acmeWeb)).status).to.be.oneOf([302, 303]);
    }

    await a.service.db('tenants').where({ id: acme }).update({ status: 'suspended' });
    const elapsed = await within(1000, async () => (await cc(a, acmeWorkload)) === 401 && (await cc(b, acmeWorkload)) === 401);
    expect(elapsed).to.be.below(1000);
    for (const t of [a, b]) {
      const res = await authorize(t, acmeWeb);
      // An unusable client gets an error page, never a redirect to its (now untrusted) redirect URI.
      expect(res.status).to.equal(400);
      expect(res.headers.get('location')).to.equal(null);
      expect(await cc(t, globexWorkload)).to.equal(200);
    }

    await a.service.db('tenants').where({ id: acme }).update({ status: 'active' });
    await within(1000, async () => (await cc(a, acmeWorkload)) === 200 && (await cc(b, acmeWorkload)) === 200);
  });
});
