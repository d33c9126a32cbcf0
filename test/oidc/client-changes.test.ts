import { expect } from 'chai';
import { deleteClient, rotateClientSecret, updateClient } from '../../src/clients/index.ts';
import type { TestService } from '../support/service.ts';
import { clientCredentials, ORDERS_API, startOidcService, type TestClient, workloadClient } from './support.ts';

const actor = { type: 'system', id: 'oidc-tests' } as const;

async function eventually(fn: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** The engine serves built clients from our cache: every change must reach it on every instance at once. */
describe('oidc: client changes reach the engine on every instance', function () {
  this.timeout(60_000);
  let a: TestService;
  let b: TestService;

  before(async () => {
    a = await startOidcService();
    b = await startOidcService({}, { database: a.database, issuer: a.service.config.issuer });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await a?.database.drop();
  });

  const status = async (t: TestService, c: TestClient) =>
    (await clientCredentials(t, c, { resource: ORDERS_API, scope: 'orders.read' })).status;

  it('disabling, re-enabling, rotating and deleting take effect on both instances within a second', async () => {
    const c = await workloadClient(a);
    expect(await status(a, c)).to.equal(200);
    expect(await status(b, c)).to.equal(200);

    await updateClient(a.service.db, c.client_id, { status: 'disabled' }, actor);
    await eventually(async () => (await status(b, c)) === 401, 1000);
    expect(await status(a, c)).to.equal(401);

    await updateClient(a.service.db, c.client_id, { status: 'active' }, actor);
    await eventually(async () => (await status(b, c)) === 200, 1000);

    const rotated = await rotateClientSecret(a.service.db, c.client_id, { overlapSeconds: 0 }, actor);
    const fresh = { client_id: c.client_id, client_secret: rotated.secret };
    await eventually(async () => (await status(b, c)) === 401 && (await status(b, fresh)) === 200, 1000);

    await deleteClient(a.service.db, c.client_id, actor);
    await eventually(async () => (await status(b, fresh)) === 401, 1000);
    expect(await status(a, fresh)).to.equal(401);
  });
});
