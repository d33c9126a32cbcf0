import { expect } from 'chai';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { PrincipalGrants, PrincipalRef } from '../../src/authz/model.ts';
import { createTokenRoles, MAX_TOKEN_ROLES } from '../../src/oidc/role-claims.ts';
import { bind, createRole, createTenant, team, tenantScope } from '../authz/support.ts';
import { RelyingParty } from '../browser/support.ts';
import { callbackOf, createUser, passwordSignIn, UserAgent, webClient } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';
import {
  clientCredentials,
  expectContract,
  introspect,
  introspectorClient,
  ORDERS_API,
  startOidcService,
  type TestClient,
  workloadClient,
} from './support.ts';

const TENANT = '0193a1e0-55aa-7c10-8d2e-3f6b9a0e1c42';
const USER = '0193a1f0-7c2b-7a01-b3c4-5d6e7f809a1b';
const WORKLOAD = '0193a1f0-0000-7000-8000-00000000beef';

function snapshot(
  bindings: Array<{ key: string; scope?: { type: 'tenant' | 'team' | 'project'; id: string }; expiresAt?: Date | null }>,
  active = true,
): PrincipalGrants {
  return {
    tenantId: TENANT,
    principal: { type: 'user', id: USER },
    active,
    bindings: bindings.map((b, i) => ({
      id: `b${i}`,
      roleId: `r${i}`,
      roleKey: b.key,
      scope: b.scope ?? { type: 'tenant', id: TENANT },
      expiresAt: b.expiresAt ?? null,
      permissions: [],
    })),
    overrides: [],
    revision: 1,
  };
}

describe('oidc: roles claim (unit)', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  const asked: PrincipalRef[] = [];
  const rolesFor = (grants: PrincipalGrants, workload: string | null = WORKLOAD) =>
    createTokenRoles({
      checks: {
        grants: async (_tenant, principal) => {
          asked.push(principal);
          return grants;
        },
      },
      workloads: { workloadOf: async () => workload },
      now: () => now,
    });
  beforeEach(() => {
    asked.length = 0;
  });

  it('keeps live tenant-scope bindings of this tenant only: sorted, unique, at most 20', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ key: `role-${String(i).padStart(2, '0')}` }));
    const roles = await rolesFor(
      snapshot([
        { key: 'viewer' },
        { key: 'admin' },
        { key: 'viewer' },
        { key: 'editor', scope: team('t1') },
        { key: 'foreign', scope: tenantScope('0193a1e0-0000-7000-8000-000000000000') },
        { key: 'expired', expiresAt: now },
        { key: 'later', expiresAt: new Date(now.getTime() + 1000) },
      ]),
    )(TENANT, { accountId: USER });
    expect(roles).to.deep.equal(['admin', 'later', 'viewer']);
    expect(asked).to.deep.equal([{ type: 'user', id: USER }]);

    const capped = await rolesFor(snapshot([...many].reverse()))(TENANT, { accountId: USER });
    expect(capped).to.have.length(MAX_TOKEN_ROLES);
    expect(capped).to.deep.equal(many.slice(0, MAX_TOKEN_ROLES).map((m) => m.key));
  });

  it('has no roles for an inactive principal, a client without workload identity or a non-UUID account', async () => {
    expect(await rolesFor(snapshot([{ key: 'admin' }], false))(TENANT, { accountId: USER })).to.deep.equal([]);
    expect(await rolesFor(snapshot([{ key: 'admin' }]), null)(TENANT, { clientId: 'svc' })).to.deep.equal([]);
    expect(await rolesFor(snapshot([{ key: 'admin' }]))(TENANT, { accountId: 'not-a-uuid' })).to.deep.equal([]);
    expect(asked).to.have.length(1);
  });

  it('asks about the workload identity of the client when there is no end-user', async () => {
    expect(await rolesFor(snapshot([{ key: 'admin' }]))(TENANT.toUpperCase(), { clientId: 'svc' })).to.deep.equal(['admin']);
    expect(asked).to.deep.equal([{ type: 'workload', id: WORKLOAD }]);
  });
});

describe('oidc: roles claim in tenant-scoped access tokens', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenantId: string;
  let rs: TestClient;

  /** A tenant client with a workload identity linked to it. */
  const linkedWorkload = async (format: 'jwt' | 'opaque' = 'jwt') => {
    const client = await workloadClient(t, { tenant_id: tenantId, access_token_format: format });
    const db = t.service.db;
    const row = (await db('oauth_clients').where({ client_id: client.client_id }).first('id')) as { id: string };
    const [w] = await db('workload_identities')
      .insert({ tenant_id: tenantId, name: `w-${row.id.slice(-12)}`, sub: `workload:${client.client_id}`, oauth_client_id: row.id })
      .returning('id');
    return { client, principal: { type: 'workload', id: w.id as string } as PrincipalRef };
  };
  const token = async (c: TestClient) => {
    const r = await clientCredentials(t, c, { resource: ORDERS_API });
    expect(r.status, r.text).to.equal(200);
    return r.json.access_token as string;
  };

  before(async () => {
    t = await startOidcService();
    tenantId = await createTenant(t.service.db);
    rs = await introspectorClient(t);
  });
  after(async () => {
    await t?.stop();
  });

  it('carries the role keys bound at tenant scope, not those at team scope nor expired ones', async () => {
    const db = t.service.db;
    const { client, principal } = await linkedWorkload();
    const reader = await createRole(db, tenantId, 'reader', ['iam.members.read']);
    const auditor = await createRole(db, tenantId, 'auditor', ['iam.roles.read']);
    const editor = await createRole(db, tenantId, 'editor', ['iam.members.read']);
    const owner = await createRole(db, tenantId, 'owner-ish', ['iam.members.read']);
    await bind(db, tenantId, principal, reader, tenantScope(tenantId));
    await bind(db, tenantId, principal, reader, team('team-1'));
    await bind(db, tenantId, principal, auditor, tenantScope(tenantId));
    await bind(db, tenantId, principal, editor, team('team-2'));
    await bind(db, tenantId, principal, owner, tenantScope(tenantId), new Date(Date.now() - 1000));

    const { payload } = expectContract('accessToken', await token(client));
    expect(payload).to.include({ tid: tenantId, sub_type: 'workload', client_id: client.client_id });
    expect(payload.roles).to.deep.equal(['auditor', 'reader']);
  });

  it('is returned by introspection of an opaque access token', async () => {
    const db = t.service.db;
    const { client, principal } = await linkedWorkload('opaque');
    await bind(db, tenantId, principal, await createRole(db, tenantId, 'syncer', ['iam.members.read']), tenantScope(tenantId));
    const at = await token(client);
    expect(at.split('.')).to.have.length(1);
    const r = await introspect(t.url, rs, at);
    expect(r.status).to.equal(200);
    expect(r.json).to.include({ active: true, tid: tenantId });
    expect(r.json.roles).to.deep.equal(['syncer']);
  });

  it('is read from the grant cache once warm, and a new token after an unbind no longer carries the role', async () => {
    const db = t.service.db;
    const { client, principal } = await linkedWorkload();
    const binding = await bind(
      db,
      tenantId,
      principal,
      await createRole(db, tenantId, 'deployer', ['iam.members.read']),
      tenantScope(tenantId),
    );
    const first = decodeJwt(await token(client));
    expect(first.roles).to.deep.equal(['deployer']);

    const before = t.service.authz.checks.stats();
    expect(decodeJwt(await token(client)).roles).to.deep.equal(['deployer']);
    const after = t.service.authz.checks.stats();
    expect(after.misses, 'no grant read for a warm principal').to.equal(before.misses);
    expect(after.hits).to.be.above(before.hits);

    await db('scope_bindings').where({ id: binding }).delete();
    const started = Date.now();
    let roles: unknown = ['deployer'];
    while (Date.now() - started < 2000) {
      roles = decodeJwt(await token(client)).roles;
      if (Array.isArray(roles) && roles.length === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(roles, 'a token issued after the revision announcement').to.deep.equal([]);
  });

  it('is an empty list for a tenant client without a workload identity, and absent without tid', async () => {
    const unlinked = await workloadClient(t, { tenant_id: tenantId });
    const tenantToken = expectContract('accessToken', await token(unlinked)).payload;
    expect(tenantToken.tid).to.equal(tenantId);
    expect(tenantToken.roles).to.deep.equal([]);

    const platform = await workloadClient(t);
    const platformToken = expectContract('accessToken', await token(platform)).payload;
    expect(platformToken).not.to.have.property('tid');
    expect(platformToken).not.to.have.property('roles');
  });

  it('is empty once the workload identity is disabled, though its role bindings remain', async () => {
    const db = t.service.db;
    const { client, principal } = await linkedWorkload();
    await bind(db, tenantId, principal, await createRole(db, tenantId, 'operator', ['iam.members.read']), tenantScope(tenantId));
    expect(decodeJwt(await token(client)).roles).to.deep.equal(['operator']);
    await db('workload_identities').where({ id: principal.id }).update({ status: 'disabled', disabled_at: db.fn.now() });
    const started = Date.now();
    let roles: unknown;
    do {
      roles = decodeJwt(await token(client)).roles;
      if (Array.isArray(roles) && roles.length === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    } while (Date.now() - started < 2000);
    expect(roles).to.deep.equal([]);
    const [row] = await db('scope_bindings').where({ principal_id: principal.id }).count({ n: '*' });
    expect(Number(row?.n)).to.equal(1);
  });
  it("carries a user's tenant roles; a refresh after an unbind drops the role", async () => {
    const db = t.service.db;
    const callback = 'https://app.example.test/cb';
    const rp = await RelyingParty.discover(
      t.service.config.issuer,
      await webClient(t, { firstParty: true, redirectUris: [callback] }),
      callback,
    );
    const user = await createUser(t);
    await db('memberships').insert({ tenant_id: tenantId, user_id: user.id, status: 'active', joined_at: db.fn.now() });
    const principal: PrincipalRef = { type: 'user', id: user.id };
    const member = await createRole(db, tenantId, 'member-of-record', ['iam.members.read']);
    const binding = await bind(db, tenantId, principal, member, tenantScope(tenantId));
    await bind(db, tenantId, principal, await createRole(db, tenantId, 'team-lead', ['iam.members.read']), team('team-9'));

    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest({ scope: 'openid offline_access orders.read', prompt: 'consent' });
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    const cb = await callbackOf(ua, await ua.follow(response));
    const tokens = await rp.finish(cb.toString(), request);
    const { payload } = expectContract('accessToken', tokens.access_token);
    expect(payload).to.include({ sub: user.id, sub_type: 'user', tid: tenantId });
    expect(payload.roles).to.deep.equal(['member-of-record']);
    expect(decodeJwt(tokens.id_token as string)).not.to.have.property('roles');

    await db('scope_bindings').where({ id: binding }).delete();
    const started = Date.now();
    let refreshToken = tokens.refresh_token as string;
    let roles: unknown;
    do {
      const refreshed = await oidc.refreshTokenGrant(rp.config, refreshToken);
      refreshToken = refreshed.refresh_token as string;
      roles = decodeJwt(refreshed.access_token).roles;
      if (Array.isArray(roles) && roles.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() - started < 2000);
    expect(roles).to.deep.equal([]);
  });
});
