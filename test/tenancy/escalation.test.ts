import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';
import { addMember, addRole, call, count, createTenant, type TenantFixture } from './support.ts';

const team = (id: string) => ({ type: 'team', id });

describe('admin API: no escalation, last owner, delegated authority', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenant: TenantFixture;
  /** Holds iam.members.manage and iam.bindings.manage but none of the owner-only or audit permissions. */
  let manager: { id: string; token: string };
  let target: { id: string; token: string };

  before(async () => {
    t = await startTestService();
    tenant = await createTenant(t);
    await addRole(t, tenant, 'people-manager', [
      'iam.tenants.read',
      'iam.members.read',
      'iam.members.manage',
      'iam.roles.read',
      'iam.bindings.read',
      'iam.bindings.manage',
      'iam.overrides.manage',
      'iam.invitations.manage',
    ]);
    manager = await addMember(t, tenant, ['people-manager']);
    target = await addMember(t, tenant, []);
  });
  after(async () => {
    await t?.stop();
  });

  const bind = (token: string, roleKey: string, principalId: string, scope = { type: 'tenant', id: tenant.id }) =>
    call(t, 'POST', `/v1/tenants/${tenant.id}/bindings`, {
      token,
      body: { role_id: tenant.roles[roleKey], principal: { type: 'user', id: principalId }, scope },
    });

  it('a member with iam.members.manage cannot grant a role holding permissions it lacks', async () => {
    const db = t.service.db;
    const before = await count(db, 'scope_bindings', { tenant_id: tenant.id });
    const admin = await bind(manager.token, 'admin', target.id);
    expect(admin.status).to.equal(403);
    expect(admin.body.missing_permissions).to.include.members(['iam.audit.read', 'iam.roles.manage', 'iam.clients.manage']);
    const owner = await bind(manager.token, 'owner', target.id);
    expect(owner.status).to.equal(403);
    expect(owner.body.missing_permissions).to.include.members(['iam.ownership.transfer', 'iam.tenants.delete']);
    expect(await count(db, 'scope_bindings', { tenant_id: tenant.id })).to.equal(before);
    // A role whose permissions it holds is fine.
    const member = await bind(manager.token, 'member', target.id);
    expect(member.status).to.equal(201);
    // ... and it can take back only what it could give.
    const ownerBinding = await db('scope_bindings').where({ tenant_id: tenant.id, role_id: tenant.roles.owner }).first('id');
    const unbindOwner = await call(t, 'DELETE', `/v1/tenants/${tenant.id}/bindings/${ownerBinding.id}`, { token: manager.token });
    expect(unbindOwner.status).to.equal(403);
    expect((await call(t, 'DELETE', `/v1/tenants/${tenant.id}/bindings/${member.body.id}`, { token: manager.token })).status).to.equal(204);
  });

  it('cannot create (or remove) an override it could not itself hold — allow or deny', async () => {
    const db = t.service.db;
    const before = await count(db, 'permission_overrides', { tenant_id: tenant.id });
    for (const effect of ['allow', 'deny']) {
      const res = await call(t, 'POST', `/v1/tenants/${tenant.id}/overrides`, {
        token: manager.token,
        body: { principal: { type: 'user', id: target.id }, permission: 'iam.audit.read', effect, scope: team('t-1'), reason: 'test' },
      });
      expect(res.status, effect).to.equal(403);
      expect(res.body.missing_permissions).to.deep.equal(['iam.audit.read']);
    }
    const platformOnly = await call(t, 'POST', `/v1/tenants/${tenant.id}/overrides`, {
      token: tenant.owner.token,
      body: {
        principal: { type: 'user', id: target.id },
        permission: 'iam.platform.admin',
        effect: 'allow',
        scope: { type: 'tenant', id: tenant.id },
        reason: 'x',
      },
    });
    expect(platformOnly.status).to.equal(400);
    expect(await count(db, 'permission_overrides', { tenant_id: tenant.id })).to.equal(before);
    const held = await call(t, 'POST', `/v1/tenants/${tenant.id}/overrides`, {
      token: manager.token,
      body: {
        principal: { type: 'user', id: target.id },
        permission: 'iam.members.read',
        effect: 'allow',
        scope: team('t-1'),
        reason: 'on-call',
      },
    });
    expect(held.status).to.equal(201);
    // The owner's own override of a permission the manager lacks cannot be removed by the manager.
    const ownerOverride = await call(t, 'POST', `/v1/tenants/${tenant.id}/overrides`, {
      token: tenant.owner.token,
      body: {
        principal: { type: 'user', id: target.id },
        permission: 'iam.audit.read',
        effect: 'deny',
        scope: team('t-1'),
        reason: 'policy',
      },
    });
    expect(ownerOverride.status).to.equal(201);
    expect(
      (await call(t, 'DELETE', `/v1/tenants/${tenant.id}/overrides/${ownerOverride.body.id}`, { token: manager.token })).status,
    ).to.equal(403);
    expect((await call(t, 'DELETE', `/v1/tenants/${tenant.id}/overrides/${held.body.id}`, { token: manager.token })).status).to.equal(204);
  });

  it('cannot remove or suspend a member who holds more than it does (an owner)', async () => {
    const db = t.service.db;
    const remove = await call(t, 'DELETE', `/v1/tenants/${tenant.id}/members/${tenant.owner.id}`, { token: manager.token });
    expect(remove.status).to.equal(403);
    const suspend = await call(t, 'POST', `/v1/tenants/${tenant.id}/members/${tenant.owner.id}/suspend`, { token: manager.token });
    expect(suspend.status).to.equal(403);
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: tenant.owner.id, status: 'active' })).to.equal(1);
  });

  it('the last owner cannot be removed, suspended, unbound or leave; with a second owner it can', async () => {
    const db = t.service.db;
    const solo = await createTenant(t);
    const owner = solo.owner;
    const ownerBinding = await db('scope_bindings').where({ tenant_id: solo.id, role_id: solo.roles.owner }).first('id');
    const attempts = [
      await call(t, 'DELETE', `/v1/tenants/${solo.id}/members/${owner.id}`, { token: owner.token }),
      await call(t, 'POST', `/v1/tenants/${solo.id}/members/${owner.id}/suspend`, { token: owner.token }),
      await call(t, 'POST', `/v1/tenants/${solo.id}/leave`, { token: owner.token }),
      await call(t, 'DELETE', `/v1/tenants/${solo.id}/bindings/${ownerBinding.id}`, { token: owner.token }),
    ];
    for (const res of attempts) {
      expect(res.status).to.equal(409);
      expect(res.body).to.include({ code: 'conflict', reason: 'last_owner' });
    }
    expect(await count(db, 'scope_bindings', { id: ownerBinding.id })).to.equal(1);
    expect(await count(db, 'memberships', { tenant_id: solo.id, user_id: owner.id, status: 'active' })).to.equal(1);

    const second = await addMember(t, solo, []);
    const grant = await call(t, 'POST', `/v1/tenants/${solo.id}/bindings`, {
      token: owner.token,
      body: { role_id: solo.roles.owner, principal: { type: 'user', id: second.id }, scope: { type: 'tenant', id: solo.id } },
    });
    expect(grant.status).to.equal(201);
    expect((await call(t, 'POST', `/v1/tenants/${solo.id}/leave`, { token: owner.token })).status).to.equal(204);
    expect(await count(db, 'memberships', { tenant_id: solo.id, user_id: owner.id })).to.equal(0);
    expect(await count(db, 'scope_bindings', { tenant_id: solo.id, principal_id: owner.id })).to.equal(0);
  });

  it('two owners removing each other at the same time: exactly one succeeds', async () => {
    const db = t.service.db;
    const duo = await createTenant(t);
    const other = await addMember(t, duo, ['owner']);
    const [a, b] = await Promise.all([
      call(t, 'DELETE', `/v1/tenants/${duo.id}/members/${other.id}`, { token: duo.owner.token }),
      call(t, 'DELETE', `/v1/tenants/${duo.id}/members/${duo.owner.id}`, { token: other.token }),
    ]);
    // The loser is no longer a member when its turn comes: 404, and one owner remains.
    expect([a.status, b.status].sort()).to.deep.equal([204, 404]);
    const owners = await db('scope_bindings').where({ tenant_id: duo.id, role_id: duo.roles.owner }).count<{ n: string }[]>('* as n');
    expect(Number(owners[0]?.n)).to.equal(1);
  });

  describe('delegated administration', () => {
    let delegator: { id: string; token: string };
    let delegate: { id: string; token: string };
    let someone: { id: string; token: string };
    let delegationId: string;

    before(async () => {
      delegator = await addMember(t, tenant, ['admin']);
      delegate = await addMember(t, tenant, ['member']);
      someone = await addMember(t, tenant, []);
      const res = await call(t, 'POST', `/v1/tenants/${tenant.id}/delegations`, {
        token: delegator.token,
        body: { delegate: { type: 'user', id: delegate.id }, roles: [tenant.roles.viewer], scope: team('team-red'), reason: 'team lead' },
      });
      expect(res.status).to.equal(201);
      delegationId = res.body.id;
    });

    it('a delegator cannot delegate roles it does not hold', async () => {
      const res = await call(t, 'POST', `/v1/tenants/${tenant.id}/delegations`, {
        token: delegator.token,
        body: { delegate: { type: 'user', id: delegate.id }, roles: [tenant.roles.owner], scope: team('team-red') },
      });
      expect(res.status).to.equal(403);
      expect(res.body.missing_permissions).to.include('iam.tenants.delete');
    });

    it('the delegate binds and unbinds only the delegated roles, only at the delegated scope', async () => {
      const ok = await bind(delegate.token, 'viewer', someone.id, team('team-red'));
      expect(ok.status).to.equal(201);
      const audit = await t.service.db('audit_events').where({ action: 'authz.binding.created', target_id: ok.body.id }).first('details');
      expect(audit.details).to.include({ authority: 'delegation', delegation_id: delegationId });
      expect((await bind(delegate.token, 'viewer', someone.id, team('team-blue'))).status).to.equal(403);
      expect((await bind(delegate.token, 'viewer', someone.id)).status).to.equal(403);
      expect((await bind(delegate.token, 'admin', someone.id, team('team-red'))).status).to.equal(403);
      expect((await bind(delegate.token, 'member', someone.id, team('team-red'))).status).to.equal(403);
      expect((await call(t, 'DELETE', `/v1/tenants/${tenant.id}/bindings/${ok.body.id}`, { token: delegate.token })).status).to.equal(204);
    });

    it('the delegated authority ends when the delegator loses the permissions, and when revoked', async () => {
      const db = t.service.db;
      const adminBinding = await db('scope_bindings').where({ tenant_id: tenant.id, principal_id: delegator.id }).first('id');
      await db('scope_bindings').where({ id: adminBinding.id }).delete();
      expect((await bind(delegate.token, 'viewer', someone.id, team('team-red'))).status).to.equal(403);
      await db('scope_bindings').insert({
        tenant_id: tenant.id,
        role_id: tenant.roles.admin,
        principal_type: 'user',
        principal_id: delegator.id,
        scope_type: 'tenant',
        scope_id: tenant.id,
      });
      expect((await bind(delegate.token, 'viewer', someone.id, team('team-red'))).status).to.equal(201);
      const revoke = await call(t, 'DELETE', `/v1/tenants/${tenant.id}/delegations/${delegationId}`, { token: delegator.token });
      expect(revoke.status).to.equal(204);
      expect((await bind(delegate.token, 'viewer', target.id, team('team-red'))).status).to.equal(403);
      const again = await call(t, 'DELETE', `/v1/tenants/${tenant.id}/delegations/${delegationId}`, { token: delegator.token });
      expect(again.status).to.equal(409);
    });
  });
});
