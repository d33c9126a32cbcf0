import { expect } from 'chai';
import { effectivePermissions } from '../../src/authz/evaluate.ts';
import { loadPrincipalGrants } from '../../src/authz/grants-store.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';
import { addMember, call, count, createTenant, lastEvent, suffix, type TenantFixture } from './support.ts';

describe('bindings, overrides and delegations API', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenant: TenantFixture;
  let member: { id: string; token: string };
  const url = (path: string) => `/v1/tenants/${tenant.id}/${path}`;

  before(async () => {
    t = await startTestService();
    tenant = await createTenant(t);
    member = await addMember(t, tenant, []);
  });
  after(async () => {
    await t?.stop();
  });

  it('binds a role at a team with an expiry; the check engine sees it at the returned revision', async () => {
    const db = t.service.db;
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const res = await call(t, 'POST', url('bindings'), {
      token: tenant.owner.token,
      body: {
        role_id: tenant.roles.admin,
        principal: { type: 'user', id: member.id },
        scope: { type: 'team', id: 'team-a' },
        expires_at: expires,
      },
    });
    expect(res.status).to.equal(201);
    expect(res.body).to.deep.include({
      role: { id: tenant.roles.admin, key: 'admin' },
      scope: { type: 'team', id: 'team-a' },
      created_by: tenant.owner.id,
    });
    expect(new Date(res.body.expires_at).toISOString()).to.equal(expires);
    expect(res.headers.get('location')).to.equal(url(`bindings/${res.body.id}`));
    const revision = Number(res.headers.get('iam-authz-revision'));
    const grants = await loadPrincipalGrants(db, tenant.id, { type: 'user', id: member.id });
    expect(grants.revision).to.equal(revision);
    const chain = [{ type: 'team' as const, id: 'team-a' }];
    expect(effectivePermissions(grants, chain, new Date()).has('iam.members.manage')).to.equal(true);
    expect(effectivePermissions(grants, [], new Date()).has('iam.members.manage')).to.equal(false);
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.authz.binding.created', key: tenant.id });

    // The team admin manages bindings at its team, and only there.
    const teamBinding = await call(t, 'POST', url('bindings'), {
      token: member.token,
      body: { role_id: tenant.roles.viewer, principal: { type: 'user', id: member.id }, scope: { type: 'team', id: 'team-a' } },
    });
    expect(teamBinding.status).to.equal(201);
    const elsewhere = await call(t, 'POST', url('bindings'), {
      token: member.token,
      body: { role_id: tenant.roles.viewer, principal: { type: 'user', id: member.id }, scope: { type: 'team', id: 'team-b' } },
    });
    expect(elsewhere.status).to.equal(403);
    const list = await call(t, 'GET', url('bindings?scope_type=team&scope_id=team-a'), { token: member.token });
    expect(list.status).to.equal(200);
    expect(list.body.items).to.have.length(2);
    expect((await call(t, 'GET', url('bindings'), { token: member.token })).status).to.equal(403);

    const dup = await call(t, 'POST', url('bindings'), {
      token: tenant.owner.token,
      body: { role_id: tenant.roles.viewer, principal: { type: 'user', id: member.id }, scope: { type: 'team', id: 'team-a' } },
    });
    expect(dup.status).to.equal(409);
    const got = await call(t, 'GET', url(`bindings/${res.body.id}`), { token: tenant.owner.token });
    expect(got.body.id).to.equal(res.body.id);
    const del = await call(t, 'DELETE', url(`bindings/${res.body.id}`), { token: tenant.owner.token });
    expect(del.status).to.equal(204);
    expect(Number(del.headers.get('iam-authz-revision'))).to.be.greaterThan(revision);
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.authz.binding.revoked', data: { binding_id: res.body.id } });
  });

  it('refuses past expiries, non-members, foreign tenant scopes and malformed principals', async () => {
    const db = t.service.db;
    const before = await count(db, 'scope_bindings', { tenant_id: tenant.id });
    const base = { role_id: tenant.roles.viewer, principal: { type: 'user', id: member.id }, scope: { type: 'project', id: 'p' } };
    const past = await call(t, 'POST', url('bindings'), {
      token: tenant.owner.token,
      body: { ...base, expires_at: '2020-01-01T00:00:00Z' },
    });
    expect(past.status).to.equal(400);
    expect(past.body.invalid_params[0].name).to.equal('body.expires_at');
    const stranger = await call(t, 'POST', url('bindings'), {
      token: tenant.owner.token,
      body: { ...base, principal: { type: 'user', id: '01900000-0000-7000-8000-000000000000' } },
    });
    expect(stranger.status).to.equal(404);
    const foreignScope = await call(t, 'POST', url('bindings'), {
      token: tenant.owner.token,
      body: { ...base, scope: { type: 'tenant', id: '01900000-0000-7000-8000-000000000001' } },
    });
    expect(foreignScope.status).to.equal(404);
    const badPrincipal = await call(t, 'POST', url('bindings'), {
      token: tenant.owner.token,
      body: { ...base, principal: { type: 'robot', id: 'x' } },
    });
    expect(badPrincipal.status).to.equal(400);
    expect(await count(db, 'scope_bindings', { tenant_id: tenant.id })).to.equal(before);
  });

  it('lets a workload of the tenant administer through its own bindings', async () => {
    const db = t.service.db;
    const name = `ci-${suffix()}`;
    const [workload] = await db('workload_identities')
      .insert({ tenant_id: tenant.id, name, sub: `client-${name}` })
      .returning('id');
    const token = await mintApiToken(t.service, { sub: `client-${name}`, sub_type: 'workload', client_id: `client-${name}`, scope: '' });
    expect((await call(t, 'GET', url('bindings'), { token })).status).to.equal(403);
    await db('scope_bindings').insert({
      tenant_id: tenant.id,
      role_id: tenant.roles.admin,
      principal_type: 'workload',
      principal_id: workload.id,
      scope_type: 'tenant',
      scope_id: tenant.id,
    });
    const res = await call(t, 'POST', url('bindings'), {
      token,
      body: { role_id: tenant.roles.viewer, principal: { type: 'workload', id: workload.id }, scope: { type: 'project', id: 'deploys' } },
    });
    expect(res.status).to.equal(201);
    expect(res.body.created_by).to.equal(null);
    const audit = await db('audit_events')
      .where({ action: 'authz.binding.created', target_id: res.body.id })
      .first('actor_type', 'actor_id');
    expect(audit).to.deep.equal({ actor_type: 'workload', actor_id: `client-${name}` });
    // A workload of another tenant with the same kind of token is nobody here.
    const outsider = await mintApiToken(t.service, { sub: 'client-elsewhere', sub_type: 'workload', scope: '' });
    expect((await call(t, 'GET', url('bindings'), { token: outsider })).status).to.equal(404);
  });

  it('creates, lists and removes overrides with a reason; duplicates conflict', async () => {
    const body = {
      principal: { type: 'user', id: member.id },
      permission: 'iam.members.read',
      effect: 'deny',
      scope: { type: 'project', id: 'secret' },
      reason: 'need to know',
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    };
    const created = await call(t, 'POST', url('overrides'), { token: tenant.owner.token, body });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ permission: 'iam.members.read', effect: 'deny', reason: 'need to know' });
    expect((await call(t, 'POST', url('overrides'), { token: tenant.owner.token, body })).status).to.equal(409);
    expect((await call(t, 'POST', url('overrides'), { token: tenant.owner.token, body: { ...body, reason: ' ' } })).status).to.equal(400);
    const listed = await call(t, 'GET', url(`overrides?principal_id=${member.id}`), { token: tenant.owner.token });
    expect(listed.body.items.map((o: { id: string }) => o.id)).to.deep.equal([created.body.id]);
    expect((await call(t, 'GET', url(`overrides/${created.body.id}`), { token: tenant.owner.token })).status).to.equal(200);
    expect((await call(t, 'DELETE', url(`overrides/${created.body.id}`), { token: tenant.owner.token })).status).to.equal(204);
    expect((await call(t, 'GET', url(`overrides/${created.body.id}`), { token: tenant.owner.token })).status).to.equal(404);
  });

  it('lists delegations (revoked only on request) and refuses self-delegation', async () => {
    const delegate = await addMember(t, tenant, []);
    const created = await call(t, 'POST', url('delegations'), {
      token: tenant.owner.token,
      body: {
        delegate: { type: 'user', id: delegate.id },
        roles: [tenant.roles.viewer, tenant.roles.member],
        scope: { type: 'tenant', id: tenant.id },
      },
    });
    expect(created.status).to.equal(201);
    expect(created.body.roles.map((r: { key: string }) => r.key)).to.deep.equal(['member', 'viewer']);
    expect(created.body.delegator).to.deep.equal({ type: 'user', id: tenant.owner.id });
    const self = await call(t, 'POST', url('delegations'), {
      token: tenant.owner.token,
      body: { delegate: { type: 'user', id: tenant.owner.id }, roles: [tenant.roles.viewer], scope: { type: 'tenant', id: tenant.id } },
    });
    expect(self.status).to.equal(400);
    // A tenant-wide delegation covers any team or project.
    const bound = await call(t, 'POST', url('bindings'), {
      token: delegate.token,
      body: { role_id: tenant.roles.viewer, principal: { type: 'user', id: delegate.id }, scope: { type: 'project', id: 'anything' } },
    });
    expect(bound.status).to.equal(201);
    expect((await call(t, 'DELETE', url(`delegations/${created.body.id}`), { token: tenant.owner.token })).status).to.equal(204);
    const active = await call(t, 'GET', url(`delegations?delegate_id=${delegate.id}`), { token: tenant.owner.token });
    expect(active.body.items).to.have.length(0);
    const all = await call(t, 'GET', url(`delegations?delegate_id=${delegate.id}&include_revoked=true`), { token: tenant.owner.token });
    expect(all.body.items).to.have.length(1);
    expect(all.body.items[0].revoked_at).to.be.a('string');
    const one = await call(t, 'GET', url(`delegations/${created.body.id}`), { token: tenant.owner.token });
    expect(one.body.revoked_at).to.be.a('string');
  });
});
