import { expect } from 'chai';
import { evaluate } from '../../src/authz/evaluate.ts';
import { loadPrincipalGrants } from '../../src/authz/grants-store.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  addMember,
  bind,
  createMember,
  createRole,
  createTenant,
  createUser,
  createWorkload,
  override,
  project,
  revisionOf,
  team,
  tenantScope,
} from './support.ts';

describe('authz grants store (PostgreSQL)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });
  const db = () => database.db;

  it('loads bindings with their role permissions, overrides and the revision in one consistent read', async () => {
    const t = await createTenant(db());
    const user = await createMember(db(), t);
    const reader = await createRole(db(), t, 'reader', ['iam.members.read', 'iam.roles.read']);
    const b1 = await bind(db(), t, user, reader, tenantScope(t));
    const b2 = await bind(db(), t, user, reader, team('team-1'));
    const o1 = await override(db(), t, user, 'iam.roles.read', 'deny', project('p-1'), { reason: 'incident 42' });
    const g = await loadPrincipalGrants(db(), t, user);
    expect(g).to.deep.include({ tenantId: t, principal: user, active: true, revision: await revisionOf(db(), t) });
    expect(g.revision).to.be.greaterThan(0);
    expect(g.inactiveReason).to.equal(undefined);
    expect(g.bindings.map((b) => b.id).sort()).to.deep.equal([b1, b2].sort());
    const tenantBinding = g.bindings.find((b) => b.id === b1);
    expect(tenantBinding).to.deep.equal({
      id: b1,
      roleId: reader,
      roleKey: 'reader',
      scope: { type: 'tenant', id: t },
      expiresAt: null,
      permissions: ['iam.members.read', 'iam.roles.read'],
    });
    expect(g.overrides).to.deep.equal([
      { id: o1, permission: 'iam.roles.read', effect: 'deny', scope: project('p-1'), expiresAt: null, reason: 'incident 42' },
    ]);
    expect(evaluate(g, 'iam.roles.read', [team('team-1'), project('p-1')], new Date()).allowed).to.equal(false);
    expect(evaluate(g, 'iam.roles.read', [team('team-1')], new Date()).allowed).to.equal(true);
  });

  it('never leaks rows of another tenant, nor of another principal', async () => {
    const a = await createTenant(db());
    const b = await createTenant(db());
    const userId = await createUser(db());
    await addMember(db(), a, userId);
    await addMember(db(), b, userId);
    const user = { type: 'user' as const, id: userId };
    const roleA = await createRole(db(), a, 'viewer-a', ['iam.members.read']);
    const roleB = await createRole(db(), b, 'admin-b', ['iam.members.manage', 'iam.members.read']);
    const inA = await bind(db(), a, user, roleA, team('shared-team'));
    await bind(db(), b, user, roleB, tenantScope(b));
    await bind(db(), b, user, roleB, team('shared-team'));
    await override(db(), b, user, 'iam.roles.read', 'allow', team('shared-team'));
    const other = await createMember(db(), a);
    await bind(db(), a, other, roleA, tenantScope(a));

    const g = await loadPrincipalGrants(db(), a, user);
    expect(g.bindings.map((x) => x.id)).to.deep.equal([inA]);
    expect(g.overrides).to.deep.equal([]);
    expect(g.revision).to.equal(await revisionOf(db(), a));
    expect(evaluate(g, 'iam.members.manage', [team('shared-team')], new Date()).allowed).to.equal(false);
    expect(evaluate(g, 'iam.roles.read', [team('shared-team')], new Date()).allowed).to.equal(false);
  });

  it('leaves out expired grants', async () => {
    const t = await createTenant(db());
    const user = await createMember(db(), t);
    const role = await createRole(db(), t, 'r', ['iam.members.read']);
    const past = new Date(Date.now() - 1000);
    const future = new Date(Date.now() + 3_600_000);
    await bind(db(), t, user, role, team('old'), past);
    const live = await bind(db(), t, user, role, team('new'), future);
    await override(db(), t, user, 'iam.members.read', 'deny', team('new'), { expiresAt: past });
    const g = await loadPrincipalGrants(db(), t, user);
    expect(g.bindings.map((x) => x.id)).to.deep.equal([live]);
    expect(g.bindings[0]?.expiresAt?.getTime()).to.equal(future.getTime());
    expect(g.overrides).to.deep.equal([]);
  });

  it('marks the principal inactive for a suspended tenant, a missing or suspended membership, a disabled workload', async () => {
    const t = await createTenant(db());
    const suspendedTenant = await createTenant(db(), 'suspended');
    const uid = await createUser(db());
    await addMember(db(), suspendedTenant, uid);
    expect(await loadPrincipalGrants(db(), suspendedTenant, { type: 'user', id: uid })).to.deep.include({
      active: false,
      inactiveReason: 'tenant_suspended',
    });
    expect(await loadPrincipalGrants(db(), t, { type: 'user', id: uid })).to.deep.include({
      active: false,
      inactiveReason: 'not_a_member',
    });
    const suspended = await createUser(db());
    await addMember(db(), t, suspended, 'suspended');
    expect(await loadPrincipalGrants(db(), t, { type: 'user', id: suspended })).to.deep.include({
      active: false,
      inactiveReason: 'membership_suspended',
    });
    const invited = await createUser(db());
    await addMember(db(), t, invited, 'invited');
    expect((await loadPrincipalGrants(db(), t, { type: 'user', id: invited })).active).to.equal(false);

    const w = await createWorkload(db(), t);
    expect(await loadPrincipalGrants(db(), t, w)).to.deep.include({ active: true });
    const disabled = await createWorkload(db(), t, 'disabled');
    expect(await loadPrincipalGrants(db(), t, disabled)).to.deep.include({ active: false, inactiveReason: 'workload_disabled' });
    // A workload of another tenant is not a workload of this one.
    const elsewhere = await createWorkload(db(), suspendedTenant);
    expect(await loadPrincipalGrants(db(), t, elsewhere)).to.deep.include({ active: false, inactiveReason: 'workload_not_found' });
  });

  it('answers unknown tenants and malformed ids without touching the database rows or throwing', async () => {
    const missing = '00000000-0000-7000-8000-000000000000';
    expect(await loadPrincipalGrants(db(), missing, { type: 'user', id: missing })).to.deep.include({
      active: false,
      inactiveReason: 'tenant_not_found',
      revision: 0,
    });
    expect(await loadPrincipalGrants(db(), 'not-a-uuid', { type: 'user', id: missing })).to.deep.include({
      active: false,
      inactiveReason: 'tenant_not_found',
    });
    const t = await createTenant(db());
    const role = await createRole(db(), t, 'r', ['iam.members.read']);
    const w = await createWorkload(db(), t);
    await bind(db(), t, w, role, tenantScope(t));
    const g = await loadPrincipalGrants(db(), t, { type: 'user', id: "x' or 1=1 --" });
    expect(g).to.deep.include({ active: false, inactiveReason: 'not_a_member', bindings: [], revision: await revisionOf(db(), t) });
  });

  it("inside a transaction, sees that transaction's own uncommitted writes (and its revision)", async () => {
    const t = await createTenant(db());
    const user = await createMember(db(), t);
    const role = await createRole(db(), t, 'r', ['iam.members.read']);
    await db()
      .transaction(async (trx) => {
        const id = await bind(trx, t, user, role, team('x'));
        const inside = await loadPrincipalGrants(trx, t, user);
        expect(inside.bindings.map((b) => b.id)).to.deep.equal([id]);
        expect(inside.revision).to.equal(await revisionOf(trx, t));
        expect((await loadPrincipalGrants(db(), t, user)).bindings).to.deep.equal([]);
        throw new Error('roll back');
      })
      .catch((err: Error) => expect(err.message).to.equal('roll back'));
    expect((await loadPrincipalGrants(db(), t, user)).bindings).to.deep.equal([]);
  });

  it('revision bumps on every authz write and is announced on iam_authz', async () => {
    const t = await createTenant(db());
    const before = await revisionOf(db(), t);
    const conn = await db().client.acquireConnection();
    const heard: string[] = [];
    try {
      conn.on('notification', (n: { channel: string; payload: string }) => {
        if (n.channel === 'iam_authz') heard.push(n.payload);
      });
      await new Promise<void>((ok, fail) => conn.query('listen iam_authz', (err: Error | null) => (err ? fail(err) : ok())));
      const user = await createMember(db(), t);
      const role = await createRole(db(), t, 'r', ['iam.members.read']);
      await bind(db(), t, user, role, tenantScope(t));
      const after = await revisionOf(db(), t);
      // membership + role + role_permissions + binding
      expect(after - before).to.equal(4);
      const w = await createWorkload(db(), t);
      await db()('workload_identities').where({ id: w.id }).update({ status: 'disabled', disabled_at: db().fn.now() });
      expect(await revisionOf(db(), t)).to.equal(after + 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(heard.at(-1)).to.equal(`${t}:${after + 1}`);
      expect(heard).to.include(`${t}:${after}`);
    } finally {
      await new Promise<void>((ok) => conn.query('unlisten *', () => ok()));
      await db().client.releaseConnection(conn);
    }
  });
});
