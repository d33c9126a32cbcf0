import { expect } from 'chai';
import { TOKEN_REVOCATION_CHANNEL } from '../../src/tokens/index.ts';
import { assertMatchesOpenApi } from '../support/openapi.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';
import {
  bind,
  checkWorld,
  createMember,
  createRole,
  createTenant,
  createWorkloadClient,
  override,
  project,
  revisionOf,
  team,
  tenantScope,
} from './support.ts';

type World = Awaited<ReturnType<typeof checkWorld>>;
interface Reason {
  kind: string;
  [member: string]: unknown;
}
interface Json {
  allowed?: boolean;
  revision?: number;
  decision_id?: string;
  reason?: Reason;
  results?: { allowed: boolean; decision_id: string; reason: Reason }[];
  permissions?: string[];
  code?: string;
  invalid_params?: unknown[];
  [member: string]: unknown;
}

describe('REST /v1/authz (check API)', function () {
  this.timeout(60_000);
  let t: TestService;
  let w: World;
  let adminToken: string;
  let aliceToken: string;
  let binding: string;
  let denyId: string;

  const userToken = (sub: string, tid: string | undefined) =>
    mintApiToken(t.service, { sub, sub_type: 'user', client_id: 'app', scope: 'openid', ...(tid ? { tid } : {}) });

  const call = async (path: string, body: unknown, token?: string, raw = false) => {
    const res = await fetch(`${t.url}/v1/authz/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: raw ? (body as string) : JSON.stringify(body),
    });
    const json = (await res.json()) as Json;
    assertMatchesOpenApi('POST', `/v1/authz/${path}`, { status: res.status, headers: res.headers, body: json });
    return { status: res.status, body: json, res };
  };

  const rowCounts = async () => {
    const n = async (table: string) => Number((await t.service.db(table).count<{ c: string }[]>('* as c'))[0]?.c);
    return { audit: await n('audit_events'), outbox: await n('outbox_events'), revisions: await n('authz_revisions') };
  };

  before(async () => {
    t = await startTestService();
    const db = t.service.db;
    w = await checkWorld(db);
    binding = await bind(db, w.tenantId, w.alice, w.editor, team('team-1'));
    denyId = await override(db, w.tenantId, w.alice, 'iam.roles.read', 'deny', project('p-secret'), { reason: 'legal hold 7' });
    adminToken = await userToken(w.admin.id, w.tenantId);
    aliceToken = await userToken(w.alice.id, w.tenantId);
  });
  after(async () => {
    await t?.stop();
  });

  it('validates responses against the OpenAPI document (and can fail)', () => {
    const res = new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
    expect(() =>
      assertMatchesOpenApi('POST', '/v1/authz/check', { status: res.status, headers: res.headers, body: { allowed: 'yes' } }),
    ).to.throw(/does not match/);
    const problem = new Response('{}', { status: 404, headers: { 'content-type': 'application/problem+json' } });
    expect(() =>
      assertMatchesOpenApi('POST', '/v1/authz/check', { status: problem.status, headers: problem.headers, body: { code: 'not_found' } }),
    ).to.throw(/does not match/);
  });

  it('allows through a binding on the chain and names it, with a decision id and the revision', async () => {
    const before = await rowCounts();
    const r = await call(
      'check',
      { principal: w.alice, permission: 'iam.members.read', scope_chain: [team('team-1'), project('p-1')] },
      adminToken,
    );
    expect(r.status).to.equal(200);
    expect(r.res.headers.get('cache-control')).to.equal('no-store');
    expect(r.body).to.deep.include({
      allowed: true,
      revision: await revisionOf(t.service.db, w.tenantId),
      reason: { kind: 'binding', binding_id: binding, role_key: 'editor', scope: team('team-1') },
    });
    expect(r.body.decision_id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Decisions are not state changes: nothing is written.
    expect(await rowCounts()).to.deep.equal(before);
  });

  it('denies off the chain (no_grant) and under a deny override (naming it and its reason)', async () => {
    const off = await call('check', { principal: w.alice, permission: 'iam.members.read', scope_chain: [team('team-2')] }, adminToken);
    expect(off.body).to.deep.include({ allowed: false, reason: { kind: 'no_grant' } });
    const denied = await call(
      'check',
      {
        tenant_id: w.tenantId,
        principal: w.alice,
        permission: 'iam.roles.read',
        scope_chain: [tenantScope(w.tenantId), team('team-1'), project('p-secret')],
      },
      adminToken,
    );
    expect(denied.body).to.deep.include({
      allowed: false,
      reason: { kind: 'override', override_id: denyId, effect: 'deny', scope: project('p-secret'), reason: 'legal hold 7' },
    });
  });

  it('batch: one snapshot, results in request order', async () => {
    const r = await call(
      'batch-check',
      {
        principal: w.alice,
        checks: [
          { permission: 'iam.members.read', scope_chain: [team('team-1')] },
          { permission: 'iam.members.read' },
          { permission: 'iam.roles.read', scope_chain: [team('team-1'), project('p-secret')] },
        ],
      },
      adminToken,
    );
    expect(r.status).to.equal(200);
    expect(r.body.revision).to.equal(await revisionOf(t.service.db, w.tenantId));
    expect(r.body.results?.map((x) => [x.allowed, x.reason.kind])).to.deep.equal([
      [true, 'binding'],
      [false, 'no_grant'],
      [false, 'override'],
    ]);
    expect(new Set(r.body.results?.map((x) => x.decision_id)).size).to.equal(3);
    const tooMany = Array.from({ length: 101 }, () => ({ permission: 'iam.members.read' }));
    const big = await call('batch-check', { principal: w.alice, checks: tooMany }, adminToken);
    expect(big.status).to.equal(400);
    expect(big.body.code).to.equal('validation_failed');
    expect((await call('batch-check', { principal: w.alice, checks: [] }, adminToken)).status).to.equal(400);
  });

  it('lists effective permissions on a chain', async () => {
    const on = await call('effective-permissions', { principal: w.alice, scope_chain: [team('team-1')] }, adminToken);
    expect(on.body).to.deep.equal({
      revision: await revisionOf(t.service.db, w.tenantId),
      permissions: ['iam.members.read', 'iam.roles.read'],
    });
    const held = await call(
      'effective-permissions',
      { principal: w.alice, scope_chain: [team('team-1'), project('p-secret')] },
      adminToken,
    );
    expect(held.body.permissions).to.deep.equal(['iam.members.read']);
    const none = await call('effective-permissions', { principal: w.alice }, adminToken);
    expect(none.body.permissions).to.deep.equal([]);
  });

  it('lets a principal ask about itself without iam.authz.check, withholding override reasons', async () => {
    const self = await call(
      'check',
      { principal: w.alice, permission: 'iam.roles.read', scope_chain: [team('team-1'), project('p-secret')] },
      aliceToken,
    );
    expect(self.status).to.equal(200);
    expect(self.body.reason).to.deep.equal({ kind: 'override', override_id: denyId, effect: 'deny', scope: project('p-secret') });
    expect((await call('effective-permissions', { principal: w.alice, scope_chain: [team('team-1')] }, aliceToken)).status).to.equal(200);
    // ... but not about anyone else.
    const other = await call('check', { principal: w.bob, permission: 'iam.members.read' }, aliceToken);
    expect(other.status).to.equal(403);
    expect(other.body.code).to.equal('forbidden');
    expect((await call('batch-check', { principal: w.admin, checks: [{ permission: 'iam.members.read' }] }, aliceToken)).status).to.equal(
      403,
    );
    expect((await call('effective-permissions', { principal: w.bob }, aliceToken)).status).to.equal(403);
  });

  it('answers 404 for another tenant, even when the principal has grants there', async () => {
    const db = t.service.db;
    const other = await createTenant(db);
    const stranger = await createMember(db, other);
    const role = await createRole(db, other, 'all', ['iam.members.read']);
    await bind(db, other, stranger, role, tenantScope(other));
    const before = await rowCounts();
    for (const [path, body] of [
      ['check', { tenant_id: other, principal: stranger, permission: 'iam.members.read' }],
      ['batch-check', { tenant_id: other, principal: stranger, checks: [{ permission: 'iam.members.read' }] }],
      ['effective-permissions', { tenant_id: other, principal: stranger }],
    ] as const) {
      const r = await call(path, body, adminToken);
      expect(r.status, path).to.equal(404);
      expect(r.body.code).to.equal('not_found');
    }
    // The other tenant's principal asked about in the caller's own tenant holds nothing there.
    const here = await call('check', { principal: stranger, permission: 'iam.members.read' }, adminToken);
    expect(here.body).to.deep.include({ allowed: false, reason: { kind: 'inactive', detail: 'not_a_member' } });
    // A chain naming the other tenant matches nothing.
    const chain = await call('check', { principal: w.admin, permission: 'iam.authz.check', scope_chain: [tenantScope(other)] }, adminToken);
    expect(chain.body).to.deep.include({ allowed: false, reason: { kind: 'no_grant' } });
    expect(await rowCounts()).to.deep.equal(before);
  });

  it('authenticates callers: no token, a bad token, a token without tenant, a revoked token', async () => {
    const body = { principal: w.alice, permission: 'iam.members.read' };
    const none = await call('check', body);
    expect(none.status).to.equal(401);
    expect(none.res.headers.get('www-authenticate')).to.equal('Bearer');
    const bad = await call('check', body, `${adminToken.slice(0, -4)}AAAA`);
    expect(bad.status).to.equal(401);
    expect(bad.res.headers.get('www-authenticate')).to.contain('invalid_token');
    const wrongAudience = await mintApiToken(t.service, { sub: w.admin.id, sub_type: 'user', tid: w.tenantId, aud: 'https://elsewhere' });
    expect((await call('check', body, wrongAudience)).status).to.equal(401);
    const untenanted = await call('check', body, await userToken(w.admin.id, undefined));
    expect(untenanted.status).to.equal(403);

    // A token in use (hence cached) stops working once revoked on any instance.
    const jti = 'revoked-during-test-0001';
    const token = await mintApiToken(t.service, { sub: w.admin.id, sub_type: 'user', tid: w.tenantId, jti });
    expect((await call('check', body, token)).status).to.equal(200);
    await t.service.db('token_revocations').insert({ jti, expires_at: new Date(Date.now() + 600_000) });
    await t.service.db.raw('select pg_notify(?, ?)', [TOKEN_REVOCATION_CHANNEL, JSON.stringify({ jti })]);
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await call('check', body, token)).status;
    }
    expect(status).to.equal(401);
  });

  it('rejects malformed requests with validation problems', async () => {
    const cases: [string, unknown][] = [
      ['narrowest first', { principal: w.alice, permission: 'iam.members.read', scope_chain: [project('p'), team('t')] }],
      ['two teams', { principal: w.alice, permission: 'iam.members.read', scope_chain: [team('a'), team('b')] }],
      ['unknown scope type', { principal: w.alice, permission: 'iam.members.read', scope_chain: [{ type: 'folder', id: 'x' }] }],
      ['empty scope id', { principal: w.alice, permission: 'iam.members.read', scope_chain: [team('')] }],
      ['principal id not a uuid', { principal: { type: 'user', id: 'alice' }, permission: 'iam.members.read' }],
      ['unknown principal type', { principal: { type: 'group', id: w.alice.id }, permission: 'iam.members.read' }],
      ['bad permission key', { principal: w.alice, permission: 'Members Read' }],
      ['negative revision', { principal: w.alice, permission: 'iam.members.read', min_revision: -1 }],
      ['unknown member', { principal: w.alice, permission: 'iam.members.read', admin: true }],
    ];
    for (const [name, body] of cases) {
      const r = await call('check', body, adminToken);
      expect(r.status, name).to.equal(400);
      expect(r.body.code, name).to.equal('validation_failed');
      expect(r.body.invalid_params, name).to.be.an('array').that.is.not.empty;
    }
    const broken = await call('check', '{"principal":', adminToken, true);
    expect(broken.body.code).to.equal('malformed_body');
  });

  it('min_revision: a revoke is never answered from an older snapshot; an unknown revision is 409', async () => {
    const db = t.service.db;
    const carol = await createMember(db, w.tenantId);
    const b = await bind(db, w.tenantId, carol, w.editor, tenantScope(w.tenantId));
    const body = { principal: carol, permission: 'iam.members.read' };
    expect((await call('check', body, adminToken)).body.allowed).to.equal(true);
    await db('scope_bindings').where({ id: b }).delete();
    const revision = await revisionOf(db, w.tenantId);
    const after = await call('check', { ...body, min_revision: revision }, adminToken);
    expect(after.body).to.deep.include({ allowed: false, revision });
    const future = await call('check', { ...body, min_revision: revision + 1000 }, adminToken);
    expect(future.status).to.equal(409);
    expect(future.body).to.include({ code: 'revision_not_visible', current_revision: revision });
  });

  it('accepts workload callers by their client, authorised by the workload identity’s bindings', async () => {
    const db = t.service.db;
    const { principal, clientId } = await createWorkloadClient(db, w.tenantId);
    const token = await mintApiToken(t.service, { sub: clientId, client_id: clientId, sub_type: 'workload', tid: w.tenantId });
    const body = { principal: w.alice, permission: 'iam.members.read', scope_chain: [team('team-1')] };
    expect((await call('check', body, token)).status).to.equal(403);
    await bind(db, w.tenantId, principal, w.checker, tenantScope(w.tenantId));
    const revision = await revisionOf(db, w.tenantId);
    const r = await call('check', { ...body, min_revision: revision }, token);
    expect(r.status).to.equal(200);
    expect(r.body.allowed).to.equal(true);
    // A client without a workload identity in this tenant is nobody here.
    const stray = await mintApiToken(t.service, {
      sub: 'no-such-client',
      client_id: 'no-such-client',
      sub_type: 'workload',
      tid: w.tenantId,
    });
    expect((await call('check', body, stray)).status).to.equal(403);
  });
});
