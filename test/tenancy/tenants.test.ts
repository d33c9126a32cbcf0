import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';
import {
  type ApiResponse,
  call,
  count,
  createTenant,
  createUser,
  lastEvent,
  platformToken,
  suffix,
  type TenantFixture,
  userToken,
} from './support.ts';

describe('tenants API', function () {
  this.timeout(60_000);
  let t: TestService;
  let platform: string;

  before(async () => {
    t = await startTestService();
    platform = await platformToken(t);
  });
  after(async () => {
    await t?.stop();
  });

  describe('create', () => {
    it('creates the tenant with its system roles and the owner, with audit and outbox events in one transaction', async () => {
      const db = t.service.db;
      const owner = await createUser(db);
      const [audit, outbox] = [await count(db, 'audit_events'), await count(db, 'outbox_events')];
      const slug = `acme-${suffix()}`;
      const res = await call(t, 'POST', '/v1/tenants', {
        token: platform,
        body: { slug, name: 'Acme', owner_user_id: owner.id, settings: { mfa_policy: 'required' } },
      });
      expect(res.status).to.equal(201);
      expect(res.body).to.include({ slug, name: 'Acme', status: 'active' });
      expect(res.body.settings).to.include({ mfa_policy: 'required', join_by_verified_domain: false });
      expect(res.headers.get('location')).to.equal(`/v1/tenants/${res.body.id}`);
      expect(Number(res.headers.get('iam-authz-revision'))).to.be.greaterThan(0);
      const roles = await db('roles').where({ tenant_id: res.body.id }).orderBy('key').pluck('key');
      expect(roles).to.deep.equal(['admin', 'auditor', 'member', 'owner', 'viewer']);
      const binding = await db('scope_bindings as b')
        .join('roles as r', 'r.id', 'b.role_id')
        .where({ 'b.tenant_id': res.body.id })
        .first('r.key', 'b.principal_id');
      expect(binding).to.deep.equal({ key: 'owner', principal_id: owner.id });
      expect(await count(db, 'memberships', { tenant_id: res.body.id, user_id: owner.id, status: 'active' })).to.equal(1);
      expect(await count(db, 'audit_events')).to.equal(audit + 3);
      expect(await count(db, 'outbox_events')).to.equal(outbox + 3);
      const stored = await db('tenants').where({ id: res.body.id }).first('settings');
      expect(stored.settings.mfa).to.deep.equal({ policy: 'required' });
    });

    it('makes a creating platform-admin user the owner by default', async () => {
      const admin = await createUser(t.service.db);
      const token = await userToken(t, admin.id, { scope: 'iam.platform.admin' });
      const res = await call(t, 'POST', '/v1/tenants', { token, body: { slug: `self-${suffix()}`, name: 'Self' } });
      expect(res.status).to.equal(201);
      expect(await count(t.service.db, 'memberships', { tenant_id: res.body.id, user_id: admin.id })).to.equal(1);
    });

    it('refuses callers without iam.platform.admin, taken slugs, missing owners and bad input, writing nothing', async () => {
      const db = t.service.db;
      const user = await createUser(db);
      const existing = await createTenant(t);
      const before = [await count(db, 'tenants'), await count(db, 'audit_events')];
      const noScope = await call(t, 'POST', '/v1/tenants', {
        token: await userToken(t, user.id),
        body: { slug: `x-${suffix()}`, name: 'X' },
      });
      expect(noScope.status).to.equal(403);
      expect(noScope.body.missing_permissions).to.deep.equal(['iam.platform.admin']);
      const taken = await call(t, 'POST', '/v1/tenants', {
        token: platform,
        body: { slug: existing.slug, name: 'X', owner_user_id: user.id },
      });
      expect(taken.status).to.equal(409);
      const noOwner = await call(t, 'POST', '/v1/tenants', { token: platform, body: { slug: `x-${suffix()}`, name: 'X' } });
      expect(noOwner.status).to.equal(400);
      expect(noOwner.body.invalid_params[0].name).to.equal('body.owner_user_id');
      const badSlug = await call(t, 'POST', '/v1/tenants', {
        token: platform,
        body: { slug: 'Not A Slug', name: 'X', owner_user_id: user.id },
      });
      expect(badSlug.status).to.equal(400);
      const badSettings = await call(t, 'POST', '/v1/tenants', {
        token: platform,
        body: { slug: `x-${suffix()}`, name: 'X', owner_user_id: user.id, settings: { sign_in_methods: [] } },
      });
      expect(badSettings.status).to.equal(400);
      const unauthenticated = await call(t, 'POST', '/v1/tenants', { body: { slug: `x-${suffix()}`, name: 'X' } });
      expect(unauthenticated.status).to.equal(401);
      expect([await count(db, 'tenants'), await count(db, 'audit_events')]).to.deep.equal(before);
    });

    it('replays a create with the same Idempotency-Key and refuses the key for another request', async () => {
      const db = t.service.db;
      const owner = await createUser(db);
      const key = `create-${suffix()}`;
      const body = { slug: `idem-${suffix()}`, name: 'Idem', owner_user_id: owner.id };
      const first = await call(t, 'POST', '/v1/tenants', { token: platform, body, headers: { 'idempotency-key': key } });
      expect(first.status).to.equal(201);
      const tenants = await count(db, 'tenants');
      const again = await call(t, 'POST', '/v1/tenants', {
        token: platform,
        body: { name: body.name, owner_user_id: owner.id, slug: body.slug },
        headers: { 'idempotency-key': key },
      });
      expect(again.status).to.equal(201);
      expect(again.body).to.deep.equal(first.body);
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect(again.headers.get('etag')).to.equal(first.headers.get('etag'));
      expect(await count(db, 'tenants')).to.equal(tenants);
      const other = await call(t, 'POST', '/v1/tenants', {
        token: platform,
        body: { ...body, name: 'Other' },
        headers: { 'idempotency-key': key },
      });
      expect(other.status).to.equal(422);
      expect(other.body.code).to.equal('idempotency_key_reused');
      // Keys belong to their caller: another caller's identical key is a new request.
      const otherCaller = await call(t, 'POST', '/v1/tenants', {
        token: await platformToken(t, 'ops-2'),
        body: { ...body, slug: `idem-${suffix()}` },
        headers: { 'idempotency-key': key },
      });
      expect(otherCaller.status).to.equal(201);
    });
  });

  describe('read and update', () => {
    let tenant: TenantFixture;
    before(async () => {
      tenant = await createTenant(t);
    });

    it('serves the tenant with an ETag and updates it only with a matching If-Match', async () => {
      const db = t.service.db;
      const got = await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token });
      expect(got.status).to.equal(200);
      const etag = got.headers.get('etag') as string;
      expect(etag).to.match(/^"[A-Za-z0-9_-]+"$/);
      const patch = { name: 'Renamed', settings: { sign_in_methods: ['password', 'passkey'], session_idle_s: 3600 } };
      const missing = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token, body: patch });
      expect(missing.status).to.equal(428);
      const stale = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
        token: tenant.owner.token,
        body: patch,
        headers: { 'if-match': '"stale"' },
      });
      expect(stale.status).to.equal(412);
      expect((await db('tenants').where({ id: tenant.id }).first('name')).name).to.equal('Tenant');
      const ok = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
        token: tenant.owner.token,
        body: patch,
        headers: { 'if-match': etag, 'content-type': 'application/merge-patch+json' },
      });
      expect(ok.status).to.equal(200);
      expect(ok.body.name).to.equal('Renamed');
      expect(ok.body.settings).to.include({ session_idle_s: 3600 });
      expect(ok.body.settings.sign_in_methods).to.deep.equal(['password', 'passkey']);
      expect(ok.headers.get('etag')).to.not.equal(etag);
      expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.tenant.updated', key: tenant.id });
      // The old tag is stale now; null resets a setting to its default.
      const reuse = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
        token: tenant.owner.token,
        body: patch,
        headers: { 'if-match': etag },
      });
      expect(reuse.status).to.equal(412);
      const reset = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
        token: tenant.owner.token,
        body: { settings: { sign_in_methods: null } },
        headers: { 'if-match': ok.headers.get('etag') as string },
      });
      expect(reset.body.settings.sign_in_methods).to.have.length(5);
      const stored = await db('tenants').where({ id: tenant.id }).first('settings');
      expect(stored.settings.session).to.deep.equal({ idleSeconds: 3600 });
    });

    it('refuses an update without iam.tenants.manage (member) and a contradictory session lifetime', async () => {
      const member = await createUser(t.service.db);
      await t.service.db('memberships').insert({ tenant_id: tenant.id, user_id: member.id, status: 'active' });
      await t.service.db('scope_bindings').insert({
        tenant_id: tenant.id,
        role_id: tenant.roles.member,
        principal_type: 'user',
        principal_id: member.id,
        scope_type: 'tenant',
        scope_id: tenant.id,
      });
      const token = await userToken(t, member.id);
      const got = await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token });
      expect(got.status).to.equal(200);
      const denied = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
        token,
        body: { name: 'Nope' },
        headers: { 'if-match': got.headers.get('etag') as string },
      });
      expect(denied.status).to.equal(403);
      const fresh = await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token });
      const contradictory = await call(t, 'PATCH', `/v1/tenants/${tenant.id}`, {
        token: tenant.owner.token,
        body: { settings: { session_idle_s: 7200, session_absolute_s: 3600 } },
        headers: { 'if-match': fresh.headers.get('etag') as string },
      });
      expect(contradictory.status).to.equal(400);
    });

    it('lists the tenants a user belongs to, and every tenant for the platform, with cursors', async () => {
      const list = await call(t, 'GET', '/v1/tenants', { token: tenant.owner.token });
      expect(list.status).to.equal(200);
      expect(list.body.items.map((x: { id: string }) => x.id)).to.deep.equal([tenant.id]);
      const all: string[] = [];
      let cursor: string | null = null;
      do {
        const page: ApiResponse = await call(t, 'GET', `/v1/tenants?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: platform });
        expect(page.body.items.length).to.be.at.most(2);
        all.push(...page.body.items.map((x: { id: string }) => x.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(all).to.include(tenant.id);
      expect(new Set(all).size).to.equal(all.length);
      expect(all).to.deep.equal([...all].sort());
      const bad = await call(t, 'GET', '/v1/tenants?cursor=nonsense', { token: platform });
      expect(bad.status).to.equal(400);
    });
  });

  describe('suspend, reactivate, delete, purge', () => {
    it('suspends (owner), blocks the members, reactivates only for the platform', async () => {
      const tenant = await createTenant(t);
      const db = t.service.db;
      const before = Number((await db('authz_revisions').where({ tenant_id: tenant.id }).first('revision')).revision);
      const res = await call(t, 'POST', `/v1/tenants/${tenant.id}/suspend`, { token: tenant.owner.token, body: { reason: 'unpaid' } });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ status: 'suspended', status_reason: 'unpaid' });
      expect(Number(res.headers.get('iam-authz-revision'))).to.be.greaterThan(before);
      expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.tenant.suspended', key: tenant.id });
      const blocked = await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token });
      expect(blocked.status).to.equal(403);
      const ownerReactivates = await call(t, 'POST', `/v1/tenants/${tenant.id}/reactivate`, { token: tenant.owner.token });
      expect(ownerReactivates.status).to.equal(403);
      const again = await call(t, 'POST', `/v1/tenants/${tenant.id}/suspend`, { token: platform });
      expect(again.status).to.equal(409);
      const back = await call(t, 'POST', `/v1/tenants/${tenant.id}/reactivate`, { token: platform });
      expect(back.status).to.equal(200);
      expect(back.body).to.include({ status: 'active', status_reason: null });
      expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.tenant.resumed' });
      const twice = await call(t, 'POST', `/v1/tenants/${tenant.id}/reactivate`, { token: platform });
      expect(twice.status).to.equal(409);
    });

    it('deletes with a retention period (members get 404), restores before the purge, purges after it', async () => {
      const tenant = await createTenant(t);
      const db = t.service.db;
      const del = await call(t, 'DELETE', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token });
      expect(del.status).to.equal(200);
      expect(del.body.status).to.equal('deleted');
      const days = (new Date(del.body.purge_after).getTime() - new Date(del.body.deleted_at).getTime()) / 86_400_000;
      expect(days).to.be.closeTo(30, 0.01);
      expect((await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: tenant.owner.token })).status).to.equal(404);
      expect((await call(t, 'GET', `/v1/tenants/${tenant.id}`, { token: platform })).body.status).to.equal('deleted');
      const restored = await call(t, 'POST', `/v1/tenants/${tenant.id}/reactivate`, { token: platform });
      expect(restored.body).to.include({ status: 'active', purge_after: null });
      expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.tenant.restored' });

      await call(t, 'DELETE', `/v1/tenants/${tenant.id}`, { token: platform, body: { reason: 'closed' } });
      const { purgeDeletedTenants } = await import('../../src/tenancy/tenants.ts');
      expect(await purgeDeletedTenants(db)).to.equal(0);
      const second = await createTenant(t);
      await call(t, 'DELETE', `/v1/tenants/${second.id}`, { token: second.owner.token });
      await db('tenants')
        .whereIn('id', [tenant.id, second.id])
        .update({ purge_after: db.raw(`now() - interval '1 minute'`) });
      // Batches of one: the job keeps going until nothing is due.
      expect(await purgeDeletedTenants(db, 1)).to.equal(2);
      expect(await count(db, 'tenants', { id: tenant.id })).to.equal(0);
      expect(await count(db, 'roles', { tenant_id: tenant.id })).to.equal(0);
      expect(await count(db, 'audit_events', { tenant_id: tenant.id, action: 'tenant.purged' })).to.equal(1);
      const purged = await db('outbox_events').where({ type: 'com.infranotes.iam.tenant.purged' }).whereIn('key', [tenant.id, second.id]);
      expect(purged).to.have.length(2);
    });

    it('refuses deletion and suspension to an admin (owner-only permissions)', async () => {
      const tenant = await createTenant(t);
      const admin = await createUser(t.service.db);
      await t.service.db('memberships').insert({ tenant_id: tenant.id, user_id: admin.id, status: 'active' });
      await t.service.db('scope_bindings').insert({
        tenant_id: tenant.id,
        role_id: tenant.roles.admin,
        principal_type: 'user',
        principal_id: admin.id,
        scope_type: 'tenant',
        scope_id: tenant.id,
      });
      const token = await userToken(t, admin.id);
      expect((await call(t, 'DELETE', `/v1/tenants/${tenant.id}`, { token })).status).to.equal(403);
      expect((await call(t, 'POST', `/v1/tenants/${tenant.id}/suspend`, { token })).status).to.equal(403);
      expect((await t.service.db('tenants').where({ id: tenant.id }).first('status')).status).to.equal('active');
    });
  });
});
