import { expect } from 'chai';
import type { Knex } from 'knex';
import { adminRoutes } from '../../src/http/routes/admin/index.ts';
import type { Mailer } from '../../src/mail/index.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { addMember, call, createTenant, suffix, type TenantFixture } from './support.ts';

/*
 * Acceptance: every admin route, called by tenant A's owner with tenant B's identifiers,
 * answers 404 and changes nothing. The matrix is generated from the routers themselves, so a
 * route added later is either covered here or fails the completeness check below.
 */

interface Route {
  method: string;
  path: string;
}

/** The routers' own table (constructing them touches nothing). */
function routeTable(): Route[] {
  const unused = () => {
    throw new Error('not called');
  };
  const routers = adminRoutes({
    db: {} as Knex,
    auth: { issuer: 'http://x', audience: 'http://x/v1', jwks: () => ({ keys: [] }) },
    bodyLimitKb: 64,
    mailer: { mode: 'dev-mailbox', send: unused, verify: unused, close: unused } as unknown as Mailer,
    issuer: 'http://x',
    productName: 'x',
    invitationTtlS: 3600,
    deletionRetentionDays: 1,
    idempotencyTtlS: 60,
    memberTokens: { maxAccessTokenTtlS: 600 },
  });
  return routers.flatMap((r) =>
    r.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ method, path: String(layer.path) }))),
  );
}

/** Routes not addressed by a tenant id, covered elsewhere: tenant creation and listing, templates, acceptance by token. */
const NOT_TENANT_ROUTES = ['POST /v1/tenants', 'GET /v1/tenants', 'GET /v1/role-templates', 'POST /v1/invitations/accept'];

/** Tables whose rows must not change; plus the audit and outbox counts. */
const TABLES = [
  'tenants',
  'tenant_domains',
  'memberships',
  'invitations',
  'invitation_roles',
  'roles',
  'role_permissions',
  'scope_bindings',
  'permission_overrides',
  'delegations',
  'delegation_roles',
  'authz_revisions',
  'idempotency_keys',
];

async function snapshot(db: Knex): Promise<string> {
  const parts: Record<string, unknown> = {};
  for (const table of TABLES) parts[table] = await db(table).select('*').orderByRaw('1, 2');
  parts.audit = (await db('audit_events').count<{ n: string }[]>('* as n'))[0]?.n;
  parts.outbox = (await db('outbox_events').count<{ n: string }[]>('* as n'))[0]?.n;
  parts.mail = (await db('dev_mailbox').count<{ n: string }[]>('* as n'))[0]?.n;
  return JSON.stringify(parts);
}

describe('cross-tenant matrix (generated from the admin route table)', function () {
  this.timeout(120_000);
  let t: TestService;
  let a: TenantFixture;
  let b: TenantFixture;
  /** B's identifiers, by route parameter name. */
  const ids: Record<string, string> = {};
  let bMember: { id: string };

  before(async () => {
    t = await startTestService();
    a = await createTenant(t);
    b = await createTenant(t);
    bMember = await addMember(t, b, ['member']);
    const bToken = b.owner.token;
    const post = async (path: string, body: unknown) => {
      const res = await call(t, 'POST', `/v1/tenants/${b.id}/${path}`, { token: bToken, body });
      expect(res.status, `${path}: ${JSON.stringify(res.body)}`).to.equal(201);
      return res.body.id as string;
    };
    ids.tenantId = b.id;
    ids.userId = bMember.id;
    ids.roleId = await post('roles', { key: `custom-${suffix()}`, name: 'Custom', permissions: ['iam.members.read'] });
    ids.invitationId = await post('invitations', { email: `b-${suffix()}@example.test` });
    ids.bindingId = await post('bindings', {
      role_id: b.roles.viewer,
      principal: { type: 'user', id: bMember.id },
      scope: { type: 'team', id: 'team-b' },
    });
    ids.overrideId = await post('overrides', {
      principal: { type: 'user', id: bMember.id },
      permission: 'iam.members.read',
      effect: 'deny',
      scope: { type: 'project', id: 'p-b' },
      reason: 'matrix',
    });
    ids.domain = `b-${suffix()}.example`;
    await post('domains', { domain: ids.domain });
    ids.delegationId = await post('delegations', {
      delegate: { type: 'user', id: bMember.id },
      roles: [b.roles.viewer],
      scope: { type: 'team', id: 'team-b' },
    });
  });
  after(async () => {
    await t?.stop();
  });

  /**
   * Bodies of the routes that take one; `namesB` marks bodies naming B's identifiers (so the
   * call with A's tenant id is a cross-tenant attempt too).
   */
  const bodies: Record<string, { namesB: boolean; body: () => unknown }> = {
    'PATCH /v1/tenants/:tenantId': { namesB: false, body: () => ({ name: 'Hijacked' }) },
    'POST /v1/tenants/:tenantId/suspend': { namesB: false, body: () => ({ reason: 'cross-tenant' }) },
    'DELETE /v1/tenants/:tenantId': { namesB: false, body: () => ({ reason: 'cross-tenant' }) },
    'POST /v1/tenants/:tenantId/invitations': {
      namesB: true,
      body: () => ({ email: `x-${suffix()}@example.test`, roles: [b.roles.admin] }),
    },
    'POST /v1/tenants/:tenantId/roles': {
      namesB: false,
      body: () => ({ key: `x-${suffix()}`, name: 'X', permissions: ['iam.members.read'] }),
    },
    'PATCH /v1/tenants/:tenantId/roles/:roleId': { namesB: false, body: () => ({ name: 'Hijacked' }) },
    'POST /v1/tenants/:tenantId/domains': { namesB: false, body: () => ({ domain: `x-${suffix()}.example` }) },
    'POST /v1/tenants/:tenantId/bindings': {
      namesB: true,
      body: () => ({ role_id: b.roles.owner, principal: { type: 'user', id: bMember.id }, scope: { type: 'tenant', id: a.id } }),
    },
    'POST /v1/tenants/:tenantId/overrides': {
      namesB: true,
      body: () => ({
        principal: { type: 'user', id: bMember.id },
        permission: 'iam.members.read',
        effect: 'allow',
        scope: { type: 'team', id: 'x' },
        reason: 'x',
      }),
    },
    'POST /v1/tenants/:tenantId/delegations': {
      namesB: true,
      body: () => ({ delegate: { type: 'user', id: bMember.id }, roles: [b.roles.admin], scope: { type: 'team', id: 'x' } }),
    },
  };

  const table = routeTable();
  const tenantRoutes = table.filter((r) => !NOT_TENANT_ROUTES.includes(`${r.method} ${r.path}`));

  it('covers every admin route, with a body wherever the route reads one', () => {
    for (const k of Object.keys(bodies)) expect(tenantRoutes.map((r) => `${r.method} ${r.path}`)).to.include(k);
    expect(tenantRoutes.length).to.be.greaterThan(25);
    for (const r of tenantRoutes) expect(r.path, `${r.method} ${r.path}`).to.include(':tenantId');
    expect(table.filter((r) => NOT_TENANT_ROUTES.includes(`${r.method} ${r.path}`))).to.have.length(NOT_TENANT_ROUTES.length);
  });

  for (const route of tenantRoutes) {
    const key = `${route.method} ${route.path}`;
    const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
    // Always: B's tenant id (and B's resource ids). Also, where the call names something of
    // B's besides the tenant (a resource id in the path or an id in the body): A's tenant id.
    const tenants: [string, () => string][] = [["B's tenant", () => b.id]];
    if (params.length > 1 || bodies[key]?.namesB) tenants.push(["A's tenant, B's resources", () => a.id]);
    for (const [name, tenantId] of tenants) {
      it(`${key} — ${name}: 404, nothing changes`, async () => {
        const path = route.path.replace(/:(\w+)/g, (_, p: string) => (p === 'tenantId' ? tenantId() : (ids[p] as string)));
        const headers: Record<string, string> = route.method === 'PATCH' ? { 'if-match': '*' } : {};
        const before = await snapshot(t.service.db);
        const res = await call(t, route.method, path, { token: a.owner.token, body: bodies[key]?.body(), headers });
        expect(res.status, JSON.stringify(res.body)).to.equal(404);
        expect(res.body.code).to.equal('not_found');
        expect(await snapshot(t.service.db)).to.equal(before);
      });
    }
  }

  it("tenant A's owner still manages tenant A (the matrix is not passing by refusing everything)", async () => {
    const res = await call(t, 'GET', `/v1/tenants/${a.id}/members`, { token: a.owner.token });
    expect(res.status).to.equal(200);
    expect(res.body.items.map((m: { user_id: string }) => m.user_id)).to.deep.equal([a.owner.id]);
  });
});
