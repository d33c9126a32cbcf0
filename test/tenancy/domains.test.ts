import { expect } from 'chai';
import { verifyDomain } from '../../src/tenancy/domains.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { call, count, createTenant, createUser, lastEvent, suffix, type TenantFixture, userToken } from './support.ts';

describe('tenant email domains and joining by domain', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenant: TenantFixture;

  before(async () => {
    t = await startTestService();
    tenant = await createTenant(t);
  });
  after(async () => {
    await t?.stop();
  });

  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a rejection');
      },
      (err: unknown) => err as Record<string, unknown>,
    );
  const caller = () => ({ actor: { type: 'user' as const, sub: tenant.owner.id, platformAdmin: false }, meta: {} });

  it('claims a domain with a one-time TXT value, verifies it only with the published record, and lists it', async () => {
    const db = t.service.db;
    const domain = `acme-${suffix()}.example`;
    const res = await call(t, 'POST', `/v1/tenants/${tenant.id}/domains`, {
      token: tenant.owner.token,
      body: { domain: domain.toUpperCase() },
    });
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ domain, verified_at: null });
    expect(res.body.verification.name).to.equal(`_infranotes-iam.${domain}`);
    const value = res.body.verification.value as string;
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/domains`, { token: tenant.owner.token, body: { domain } })).status).to.equal(
      409,
    );

    const wrong = db.transaction((trx) =>
      verifyDomain(trx, caller(), tenant.id, domain, async () => [['infranotes-iam-verification=nope']]),
    );
    expect(await rejection(wrong)).to.include({ code: 'conflict' });
    const failing = db.transaction((trx) =>
      verifyDomain(trx, caller(), tenant.id, domain, async () => {
        throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
      }),
    );
    expect(await rejection(failing)).to.include({ code: 'conflict' });
    expect((await db('tenant_domains').where({ tenant_id: tenant.id, domain }).first('verified_at')).verified_at).to.equal(null);
    const lookups: string[] = [];
    const verified = await db.transaction((trx) =>
      verifyDomain(trx, caller(), tenant.id, domain, async (name) => {
        lookups.push(name);
        return [['v=spf1 -all'], [value.slice(0, 10), value.slice(10)]];
      }),
    );
    expect(lookups).to.deep.equal([`_infranotes-iam.${domain}`]);
    expect(verified.verified_at).to.be.instanceOf(Date);
    const again = await db.transaction((trx) => verifyDomain(trx, caller(), tenant.id, domain, async () => []));
    expect(again.verified_at).to.deep.equal(verified.verified_at);

    // Another tenant can claim the same domain but never verify it as well.
    const other = await createTenant(t);
    const claimed = await call(t, 'POST', `/v1/tenants/${other.id}/domains`, { token: other.owner.token, body: { domain } });
    const otherCaller = { actor: { type: 'user' as const, sub: other.owner.id, platformAdmin: false }, meta: {} };
    const taken = db.transaction((trx) =>
      verifyDomain(trx, otherCaller, other.id, domain, async () => [[claimed.body.verification.value]]),
    );
    expect(await rejection(taken))
      .to.have.property('message')
      .that.matches(/another tenant/);

    const list = await call(t, 'GET', `/v1/tenants/${tenant.id}/domains`, { token: tenant.owner.token });
    expect(list.body.items.map((d: { domain: string }) => d.domain)).to.deep.equal([domain]);
    const shown = await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token });
    expect(shown.body.verified_domains).to.deep.equal([domain]);
  });

  it('lets a user with a verified address at a verified domain join, when the tenant allows it', async () => {
    const db = t.service.db;
    const domain = `join-${suffix()}.example`;
    await db('tenant_domains').insert({ tenant_id: tenant.id, domain, verified_at: db.fn.now() });
    const user = await createUser(db, { email: `ann@${domain}` });
    const token = await userToken(t, user.id);
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/join`, { token })).status).to.equal(404);

    const etag = (await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token })).headers.get('etag') as string;
    await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
      token: tenant.owner.token,
      body: { settings: { join_by_verified_domain: true } },
      headers: { 'if-match': etag },
    });
    const unverified = await createUser(db, { email: `bob@${domain}`, verified: false });
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/join`, { token: await userToken(t, unverified.id) })).status).to.equal(404);
    const elsewhere = await createUser(db, { email: `eve@not-${domain}` });
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/join`, { token: await userToken(t, elsewhere.id) })).status).to.equal(404);

    const joined = await call(t, 'POST', `/v1/tenants/${tenant.id}/join`, { token });
    expect(joined.status).to.equal(201);
    expect(joined.body).to.deep.equal({ tenant_id: tenant.id, user_id: user.id, roles: ['member'] });
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: user.id, status: 'active' })).to.equal(1);
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.membership.added' });
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/join`, { token })).status).to.equal(409);

    expect((await call(t, 'DELETE', `/v1/tenants/${tenant.id}/domains/${domain}`, { token: tenant.owner.token })).status).to.equal(204);
    expect((await call(t, 'DELETE', `/v1/tenants/${tenant.id}/domains/${domain}`, { token: tenant.owner.token })).status).to.equal(404);
    const late = await createUser(db, { email: `cy@${domain}` });
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/join`, { token: await userToken(t, late.id) })).status).to.equal(404);
  });
});
