import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';
import { addMember, call, count, createTenant, lastEvent, type TenantFixture } from './support.ts';

describe('roles API', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenant: TenantFixture;
  const roles = () => `/v1/tenants/${tenant.id}/roles`;

  before(async () => {
    t = await startTestService();
    tenant = await createTenant(t);
  });
  after(async () => {
    await t?.stop();
  });

  it('lists the role templates and the tenant roles (paginated)', async () => {
    const templates = await call(t, 'GET', '/v1/role-templates', { token: tenant.owner.token });
    expect(templates.status).to.equal(200);
    expect(templates.body.items.map((x: { key: string }) => x.key)).to.include.members(['owner', 'admin', 'member', 'viewer', 'auditor']);
    const first = await call(t, 'GET', `${roles()}?limit=3`, { token: tenant.owner.token });
    expect(first.body.items).to.have.length(3);
    const second = await call(t, 'GET', `${roles()}?limit=3&cursor=${first.body.next_cursor}`, { token: tenant.owner.token });
    expect(second.body.items).to.have.length(2);
    expect(second.body.next_cursor).to.equal(null);
    const keys = [...first.body.items, ...second.body.items].map((r: { key: string }) => r.key).sort();
    expect(keys).to.deep.equal(['admin', 'auditor', 'member', 'owner', 'viewer']);
    expect((await call(t, 'GET', `${roles()}?limit=0`, { token: tenant.owner.token })).status).to.equal(400);
  });

  it('creates custom and template roles, refusing unknown, platform-only and held-not permissions', async () => {
    const db = t.service.db;
    const custom = await call(t, 'POST', roles(), {
      token: tenant.owner.token,
      body: { key: 'support', name: 'Support', description: 'Helps members', permissions: ['iam.members.read', 'iam.sessions.revoke'] },
    });
    expect(custom.status).to.equal(201);
    expect(custom.body).to.include({ key: 'support', is_system: false, template: null });
    expect(custom.body.permissions).to.deep.equal(['iam.members.read', 'iam.sessions.revoke']);
    expect(custom.headers.get('etag')).to.be.a('string');
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.role.created', key: tenant.id });
    const fromTemplate = await call(t, 'POST', roles(), {
      token: tenant.owner.token,
      body: { key: 'auditors-2', name: 'Auditors', template: 'auditor' },
    });
    expect(fromTemplate.status).to.equal(201);
    expect(fromTemplate.body.template).to.equal('auditor');
    expect(fromTemplate.body.permissions).to.include('iam.audit.export');

    const before = await count(db, 'roles', { tenant_id: tenant.id });
    const bad = await call(t, 'POST', roles(), {
      token: tenant.owner.token,
      body: { key: 'bad', name: 'Bad', permissions: ['iam.members.read', 'iam.platform.admin', 'nope.nothing.here'] },
    });
    expect(bad.status).to.equal(400);
    expect(bad.body.invalid_params.map((p: { name: string }) => p.name)).to.deep.equal(['body.permissions.1', 'body.permissions.2']);
    const both = await call(t, 'POST', roles(), {
      token: tenant.owner.token,
      body: { key: 'both', name: 'B', template: 'viewer', permissions: [] },
    });
    expect(both.status).to.equal(400);
    const taken = await call(t, 'POST', roles(), { token: tenant.owner.token, body: { key: 'support', name: 'Again' } });
    expect(taken.status).to.equal(409);
    const unknownTemplate = await call(t, 'POST', roles(), { token: tenant.owner.token, body: { key: 'x', name: 'X', template: 'nope' } });
    expect(unknownTemplate.status).to.equal(400);
    const admin = await addMember(t, tenant, ['admin']);
    const escalate = await call(t, 'POST', roles(), {
      token: admin.token,
      body: { key: 'deleter', name: 'D', permissions: ['iam.tenants.delete'] },
    });
    expect(escalate.status).to.equal(403);
    expect(escalate.body.missing_permissions).to.deep.equal(['iam.tenants.delete']);
    const viewer = await addMember(t, tenant, ['viewer']);
    expect((await call(t, 'POST', roles(), { token: viewer.token, body: { key: 'v', name: 'V' } })).status).to.equal(403);
    expect(await count(db, 'roles', { tenant_id: tenant.id })).to.equal(before);
  });

  it('updates a role with If-Match, keeps system roles as their template made them', async () => {
    const created = await call(t, 'POST', roles(), {
      token: tenant.owner.token,
      body: { key: 'ops', name: 'Ops', permissions: ['iam.members.read'] },
    });
    const url = `${roles()}/${created.body.id}`;
    const etag = (await call(t, 'GET', url, { token: tenant.owner.token })).headers.get('etag') as string;
    expect(etag).to.equal(created.headers.get('etag'));
    expect((await call(t, 'PATCH', url, { token: tenant.owner.token, body: { name: 'Operations' } })).status).to.equal(428);
    const updated = await call(t, 'PATCH', url, {
      token: tenant.owner.token,
      body: { name: 'Operations', permissions: ['iam.members.read', 'iam.members.manage'] },
      headers: { 'if-match': etag },
    });
    expect(updated.status).to.equal(200);
    expect(updated.body.permissions).to.deep.equal(['iam.members.manage', 'iam.members.read']);
    expect(Number(updated.headers.get('iam-authz-revision'))).to.be.greaterThan(0);
    expect(
      (await call(t, 'PATCH', url, { token: tenant.owner.token, body: { name: 'Again' }, headers: { 'if-match': etag } })).status,
    ).to.equal(412);

    const admin = await addMember(t, tenant, ['admin']);
    const current = (await call(t, 'GET', url, { token: admin.token })).headers.get('etag') as string;
    const escalate = await call(t, 'PATCH', url, {
      token: admin.token,
      body: { permissions: ['iam.members.read', 'iam.ownership.transfer'] },
      headers: { 'if-match': current },
    });
    expect(escalate.status).to.equal(403);

    const owner = `${roles()}/${tenant.roles.owner}`;
    const ownerTag = (await call(t, 'GET', owner, { token: tenant.owner.token })).headers.get('etag') as string;
    const system = await call(t, 'PATCH', owner, {
      token: tenant.owner.token,
      body: { permissions: ['iam.members.read'] },
      headers: { 'if-match': ownerTag },
    });
    expect(system.status).to.equal(409);
    const renamed = await call(t, 'PATCH', owner, {
      token: tenant.owner.token,
      body: { name: 'Proprietor' },
      headers: { 'if-match': ownerTag },
    });
    expect(renamed.status).to.equal(200);
  });

  it('deletes a custom role with its bindings, never a system role', async () => {
    const db = t.service.db;
    const created = await call(t, 'POST', roles(), {
      token: tenant.owner.token,
      body: { key: 'temp', name: 'Temp', permissions: ['iam.members.read'] },
    });
    const member = await addMember(t, tenant, []);
    await call(t, 'POST', `/v1/tenants/${tenant.id}/bindings`, {
      token: tenant.owner.token,
      body: { role_id: created.body.id, principal: { type: 'user', id: member.id }, scope: { type: 'project', id: 'p1' } },
    });
    expect(await count(db, 'scope_bindings', { role_id: created.body.id })).to.equal(1);
    expect((await call(t, 'DELETE', `${roles()}/${tenant.roles.member}`, { token: tenant.owner.token })).status).to.equal(409);
    expect(
      (await call(t, 'DELETE', `${roles()}/${created.body.id}`, { token: tenant.owner.token, headers: { 'if-match': '"old"' } })).status,
    ).to.equal(412);
    const del = await call(t, 'DELETE', `${roles()}/${created.body.id}`, { token: tenant.owner.token });
    expect(del.status).to.equal(204);
    expect(await count(db, 'roles', { id: created.body.id })).to.equal(0);
    expect(await count(db, 'scope_bindings', { role_id: created.body.id })).to.equal(0);
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.role.deleted' });
    expect((await call(t, 'GET', `${roles()}/${created.body.id}`, { token: tenant.owner.token })).status).to.equal(404);
  });
});
