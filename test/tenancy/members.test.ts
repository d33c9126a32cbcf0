import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';
import { type ApiResponse, addMember, call, count, createTenant, lastEvent, type TenantFixture, userToken } from './support.ts';

describe('members API', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenant: TenantFixture;
  const members = () => `/v1/tenants/${tenant.id}/members`;

  before(async () => {
    t = await startTestService();
    tenant = await createTenant(t);
  });
  after(async () => {
    await t?.stop();
  });

  it('lists members with their tenant roles, page by page', async () => {
    const added = [];
    for (let i = 0; i < 4; i++) added.push(await addMember(t, tenant, i % 2 ? ['viewer'] : ['member']));
    const seen: { user_id: string; roles: string[] }[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await call(t, 'GET', `${members()}?limit=2${cursor ? `&cursor=${cursor}` : ''}`, {
        token: tenant.owner.token,
      });
      expect(page.status).to.equal(200);
      seen.push(...page.body.items);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.map((m) => m.user_id)).to.deep.equal([tenant.owner.id, ...added.map((a) => a.id)]);
    expect(seen[0]?.roles).to.deep.equal(['owner']);
    expect(seen[2]?.roles).to.deep.equal(['viewer']);
    const one = await call(t, 'GET', `${members()}/${added[0]?.id}`, { token: added[1]?.token as string });
    expect(one.status).to.equal(200);
    expect(one.headers.get('etag')).to.be.a('string');
  });

  it('suspends and reactivates a member: suspended members hold no permission', async () => {
    const db = t.service.db;
    const member = await addMember(t, tenant, ['viewer']);
    const got = await call(t, 'GET', `${members()}/${member.id}`, { token: tenant.owner.token });
    const suspended = await call(t, 'POST', `${members()}/${member.id}/suspend`, {
      token: tenant.owner.token,
      headers: { 'if-match': got.headers.get('etag') as string },
    });
    expect(suspended.status).to.equal(200);
    expect(suspended.body.status).to.equal('suspended');
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.membership.suspended', key: tenant.id });
    const blocked = await call(t, 'GET', members(), { token: member.token });
    expect(blocked.status).to.equal(403);
    expect((await call(t, 'POST', `${members()}/${member.id}/suspend`, { token: tenant.owner.token })).status).to.equal(409);
    const stale = await call(t, 'POST', `${members()}/${member.id}/reactivate`, {
      token: tenant.owner.token,
      headers: { 'if-match': got.headers.get('etag') as string },
    });
    expect(stale.status).to.equal(412);
    const back = await call(t, 'POST', `${members()}/${member.id}/reactivate`, { token: tenant.owner.token });
    expect(back.body.status).to.equal('active');
    expect((await call(t, 'GET', members(), { token: member.token })).status).to.equal(200);
    expect((await call(t, 'POST', `${members()}/${member.id}/reactivate`, { token: tenant.owner.token })).status).to.equal(409);
  });

  it("ending a membership ends the member's tokens in that tenant (suspend, remove), not in its other tenants", async () => {
    const db = t.service.db;
    const member = await addMember(t, tenant, ['viewer']);
    const second = await createTenant(t);
    await db('memberships').insert({ tenant_id: second.id, user_id: member.id, status: 'active', joined_at: db.fn.now() });
    await db('scope_bindings').insert({
      tenant_id: second.id,
      role_id: second.roles.viewer,
      principal_type: 'user',
      principal_id: member.id,
      scope_type: 'tenant',
      scope_id: second.id,
    });
    // One grant per tenant, as the engine and the tenant selection store them; a refresh token on the first.
    const grant = (id: string, tenantId: string) => ({ id, tenantId });
    const [here, there] = [grant(`g-here-${member.id}`, tenant.id), grant(`g-there-${member.id}`, second.id)];
    for (const g of [here, there]) {
      await db('oidc_models').insert({
        model: 'Grant',
        id: g.id,
        account_id: member.id,
        payload: { accountId: member.id, clientId: 'admin-console', jti: g.id },
      });
      await db('grant_tenants').insert({ grant_id: g.id, tenant_id: g.tenantId, account_id: member.id, client_id: 'admin-console' });
    }
    await db('oidc_models').insert({
      model: 'RefreshToken',
      id: `rt-${member.id}`,
      account_id: member.id,
      grant_id: here.id,
      payload: { accountId: member.id, grantId: here.id },
    });
    const tokenHere = await userToken(t, member.id, { tid: tenant.id, grant_id: here.id });
    const tokenThere = await userToken(t, member.id, { tid: second.id, grant_id: there.id });
    expect((await call(t, 'GET', members(), { token: tokenHere })).status).to.equal(200);

    const suspended = await call(t, 'POST', `${members()}/${member.id}/suspend`, { token: tenant.owner.token });
    expect(suspended.status).to.equal(200);
    expect((await db('revoked_grants').where({ grant_id: here.id }).first('tenant_id', 'account_id', 'reason')) ?? null).to.deep.equal({
      tenant_id: tenant.id,
      account_id: member.id,
      reason: 'admin',
    });
    expect(await count(db, 'oidc_models', { grant_id: here.id })).to.equal(0);
    expect(await count(db, 'oidc_models', { model: 'Grant', id: here.id })).to.equal(0);
    expect(await count(db, 'revoked_grants', { grant_id: there.id })).to.equal(0);
    expect(await count(db, 'oidc_models', { model: 'Grant', id: there.id })).to.equal(1);
    const audit = await db('audit_events').where({ action: 'membership.suspended', target_id: member.id }).first('details');
    expect(audit.details).to.include({ grants_revoked: 1 });
    expect(
      await db('outbox_events').where({ type: 'com.infranotes.iam.token.revoked', key: here.id }).count({ n: '*' }).first(),
    ).to.deep.equal({
      n: 1,
    });
    // The revoked token is refused outright; the member's token for its other tenant still works.
    expect((await call(t, 'GET', members(), { token: tokenHere })).status).to.equal(401);
    expect((await call(t, 'GET', `/v1/tenants/${second.id}/members`, { token: tokenThere })).status).to.equal(200);
    // Reactivation gives permissions back, not the revoked grant: the member signs in again.
    expect((await call(t, 'POST', `${members()}/${member.id}/reactivate`, { token: tenant.owner.token })).status).to.equal(200);
    expect((await call(t, 'GET', members(), { token: tokenHere })).status).to.equal(401);

    const removed = await call(t, 'DELETE', `/v1/tenants/${second.id}/members/${member.id}`, { token: second.owner.token });
    expect(removed.status).to.equal(204);
    expect(await count(db, 'revoked_grants', { grant_id: there.id })).to.equal(1);
    expect((await call(t, 'GET', `/v1/tenants/${second.id}/members`, { token: tokenThere })).status).to.equal(401);
  });

  it('removes a member with its bindings, overrides and delegations; a member may leave', async () => {
    const db = t.service.db;
    const member = await addMember(t, tenant, ['admin']);
    await call(t, 'POST', `/v1/tenants/${tenant.id}/overrides`, {
      token: tenant.owner.token,
      body: {
        principal: { type: 'user', id: member.id },
        permission: 'iam.audit.read',
        effect: 'deny',
        scope: { type: 'team', id: 'x' },
        reason: 'r',
      },
    });
    const other = await addMember(t, tenant, []);
    const delegation = await call(t, 'POST', `/v1/tenants/${tenant.id}/delegations`, {
      token: member.token,
      body: { delegate: { type: 'user', id: other.id }, roles: [tenant.roles.viewer], scope: { type: 'tenant', id: tenant.id } },
    });
    expect(delegation.status).to.equal(201);
    const viewer = await addMember(t, tenant, ['viewer']);
    expect((await call(t, 'DELETE', `${members()}/${member.id}`, { token: viewer.token })).status).to.equal(403);
    const removed = await call(t, 'DELETE', `${members()}/${member.id}`, { token: tenant.owner.token });
    expect(removed.status).to.equal(204);
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: member.id })).to.equal(0);
    expect(await count(db, 'scope_bindings', { tenant_id: tenant.id, principal_id: member.id })).to.equal(0);
    expect(await count(db, 'permission_overrides', { tenant_id: tenant.id, principal_id: member.id })).to.equal(0);
    expect((await db('delegations').where({ id: delegation.body.id }).first('revoked_at')).revoked_at).to.be.instanceOf(Date);
    expect(await lastEvent(db)).to.deep.include({
      type: 'com.infranotes.iam.membership.removed',
      data: { tenant_id: tenant.id, user_id: member.id },
    });
    expect((await call(t, 'GET', members(), { token: member.token })).status).to.equal(404);
    expect((await call(t, 'DELETE', `${members()}/${member.id}`, { token: tenant.owner.token })).status).to.equal(404);

    const leaver = await addMember(t, tenant, ['viewer']);
    expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/leave`, { token: leaver.token })).status).to.equal(204);
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: leaver.id })).to.equal(0);
    const audit = await db('audit_events').where({ action: 'membership.removed', target_id: leaver.id }).first('details', 'actor_id');
    expect(audit).to.deep.include({ actor_id: leaver.id });
    expect(audit.details.reason).to.equal('left');
    expect(audit.details.grants_revoked).to.equal(0);
  });
});
