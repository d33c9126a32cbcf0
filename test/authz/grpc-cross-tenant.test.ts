import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { loadContract } from '../../src/grpc/server.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';
import { bind, checkWorld, createMember, createRole, createWorkloadClient, team, tenantScope } from './support.ts';

/*
 * Acceptance (issue 5), the gRPC half of the cross-tenant matrix: every method of
 * iam.v1.AuthorizationService, called by tenant A's callers (a user and a workload holding
 * iam.authz.check) with tenant B's identifiers, answers NOT_FOUND — the same answer as for a tenant
 * that does not exist — and changes nothing. The methods come from the service definition itself,
 * so a method added later is either given a request here or fails the completeness check.
 */

interface Json {
  allowed?: boolean;
  reason?: { kind?: string; inactive?: { detail: string }; [k: string]: unknown };
  results?: { allowed: boolean; reason: { kind?: string } }[];
  permissions?: string[];
  [member: string]: unknown;
}
type Unary = (request: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Json) => void) => grpc.ClientUnaryCall;
type Scope = { type: string; id: string };

const pscope = (s: Scope) => ({ type: `SCOPE_TYPE_${s.type.toUpperCase()}`, id: s.id });
const pprincipal = (p: { type: string; id: string }) => ({ type: `PRINCIPAL_TYPE_${p.type.toUpperCase()}`, id: p.id });

/** One request per method, naming the given tenant, principal and scope chain. */
const REQUESTS: Record<string, (base: { tenant_id?: string; principal: unknown; scope_chain: unknown[] }) => Json> = {
  Check: (b) => ({ ...b, permission: 'iam.members.read' }),
  BatchCheck: (b) => ({
    tenant_id: b.tenant_id,
    principal: b.principal,
    checks: [
      { permission: 'iam.members.read', scope_chain: b.scope_chain },
      { permission: 'iam.roles.read', scope_chain: b.scope_chain },
    ],
  }),
  ListEffectivePermissions: (b) => b,
};

/** Rows the check API must never write; plus the audit and outbox counts. */
const TABLES = ['tenants', 'memberships', 'roles', 'role_permissions', 'scope_bindings', 'permission_overrides', 'authz_revisions'];

async function snapshot(db: Knex): Promise<string> {
  const parts: Record<string, unknown> = {};
  for (const table of TABLES) parts[table] = await db(table).select('*').orderByRaw('1, 2');
  parts.audit = (await db('audit_events').count<{ n: string }[]>('* as n'))[0]?.n;
  parts.outbox = (await db('outbox_events').count<{ n: string }[]>('* as n'))[0]?.n;
  return JSON.stringify(parts);
}

describe('gRPC cross-tenant matrix (generated from the service definition)', function () {
  this.timeout(60_000);
  let t: TestService;
  let client: grpc.Client & Record<string, Unary>;
  let methods: string[];
  let callers: { name: string; token: string }[];
  let a: Awaited<ReturnType<typeof checkWorld>>;
  let tenantB: string;
  let memberB: { type: 'user'; id: string };
  let workloadB: { type: 'workload'; id: string };

  const invoke = (method: string, request: Json, token: string, md: Record<string, string> = {}) =>
    new Promise<{ err: grpc.ServiceError | null; res: Json | undefined; problem: unknown }>((done) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      for (const [k, v] of Object.entries(md)) metadata.set(k, v);
      (client[method] as Unary).call(client, request, metadata, (err, res) =>
        done({ err, res, problem: err?.metadata?.get('iam-problem-code')[0] }),
      );
    });

  before(async () => {
    t = await startTestService();
    const db = t.service.db;
    a = await checkWorld(db);
    await bind(db, a.tenantId, a.alice, a.editor, tenantScope(a.tenantId));
    const checkerWorkload = await createWorkloadClient(db, a.tenantId);
    await bind(db, a.tenantId, checkerWorkload.principal, a.checker, tenantScope(a.tenantId));

    // Tenant B: a member and a workload, both with every permission at tenant scope.
    const b = await checkWorld(db);
    tenantB = b.tenantId;
    memberB = b.alice as { type: 'user'; id: string };
    await bind(db, tenantB, memberB, b.editor, tenantScope(tenantB));
    workloadB = (await createWorkloadClient(db, tenantB)).principal as { type: 'workload'; id: string };
    await bind(db, tenantB, workloadB, await createRole(db, tenantB, 'all', ['iam.members.read', 'iam.roles.read']), tenantScope(tenantB));

    callers = [
      { name: 'user of A', token: await mintApiToken(t.service, { sub: a.admin.id, sub_type: 'user', tid: a.tenantId, client_id: 'app' }) },
      {
        name: 'workload of A',
        token: await mintApiToken(t.service, {
          sub: checkerWorkload.clientId,
          sub_type: 'workload',
          tid: a.tenantId,
          client_id: checkerWorkload.clientId,
        }),
      },
    ];
    const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
      iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
    };
    methods = Object.keys(pkg.iam.v1.AuthorizationService.service);
    client = new pkg.iam.v1.AuthorizationService(`127.0.0.1:${t.service.grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, Unary>;
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });

  it('has a request for every method of the service', () => {
    expect(methods).to.have.length.greaterThan(0);
    expect(methods.filter((m) => !(m in REQUESTS))).to.deep.equal([]);
  });

  it("answers NOT_FOUND to tenant B's identifiers — as for a tenant that does not exist — and changes nothing", async () => {
    const db = t.service.db;
    const before = await snapshot(db);
    const foreign = [
      { tenant_id: tenantB, principal: pprincipal(memberB), scope_chain: [pscope(tenantScope(tenantB)), pscope(team('team-1'))] },
      { tenant_id: tenantB, principal: pprincipal(workloadB), scope_chain: [] },
      { tenant_id: tenantB.toUpperCase(), principal: pprincipal(memberB), scope_chain: [] },
      // B's tenant named with A's own principal and A's own tenant scope: still B.
      { tenant_id: tenantB, principal: pprincipal(a.alice), scope_chain: [pscope(tenantScope(a.tenantId))] },
    ];
    let calls = 0;
    for (const caller of callers) {
      for (const method of methods) {
        const build = REQUESTS[method] as (typeof REQUESTS)[string];
        const unknown = await invoke(
          method,
          build({ tenant_id: randomUUID(), principal: pprincipal(a.alice), scope_chain: [] }),
          caller.token,
        );
        expect(unknown.err?.code, `${caller.name} ${method} unknown tenant`).to.equal(grpc.status.NOT_FOUND);
        for (const [i, base] of foreign.entries()) {
          const r = await invoke(method, build(base), caller.token);
          const label = `${caller.name} ${method} case ${i}`;
          expect(r.err?.code, label).to.equal(grpc.status.NOT_FOUND);
          expect(r.problem, label).to.equal('not_found');
          expect(r.err?.details, `${label}: no existence oracle`).to.equal(unknown.err?.details);
          expect(r.res, label).to.equal(undefined);
          calls++;
        }
        // The convenience copy of the tenant disagreeing with the token is refused before anything is read.
        const copy = await invoke(method, build(foreign[0] as (typeof foreign)[number]), caller.token, { 'iam-tenant': tenantB });
        expect(copy.err?.code, `${caller.name} ${method} iam-tenant`).to.equal(grpc.status.UNAUTHENTICATED);
      }
    }
    expect(calls).to.equal(callers.length * methods.length * foreign.length);
    expect(await snapshot(db), 'rows after the matrix').to.equal(before);
  });

  it("decides B's principals and B's tenant scope in A's own tenant as strangers: denied, like unknown ids", async () => {
    const expectations: Record<string, (r: Json | undefined) => void> = {
      Check: (r) => expect(r?.allowed).to.equal(false),
      BatchCheck: (r) => expect(r?.results?.map((x) => x.allowed)).to.deep.equal([false, false]),
      ListEffectivePermissions: (r) => expect(r?.permissions).to.deep.equal([]),
    };
    expect(Object.keys(expectations).sort()).to.deep.equal([...methods].sort());
    for (const caller of callers) {
      for (const method of methods) {
        const build = REQUESTS[method] as (typeof REQUESTS)[string];
        const answers = [];
        for (const principal of [memberB, { type: 'user', id: randomUUID() }, workloadB, { type: 'workload', id: randomUUID() }]) {
          const r = await invoke(method, build({ principal: pprincipal(principal), scope_chain: [] }), caller.token);
          expect(r.err, `${caller.name} ${method} ${principal.type}`).to.equal(null);
          (expectations[method] as (r: Json | undefined) => void)(r.res);
          if (method === 'Check') answers.push(r.res?.reason);
        }
        if (method === 'Check') {
          // B's member reads exactly like an unknown user, B's workload like an unknown workload.
          expect(answers[0]).to.deep.equal(answers[1]);
          expect(answers[2]).to.deep.equal(answers[3]);
          expect(answers[0]?.kind).to.equal('inactive');
        }
        // A's own principal, bound at A's tenant scope, with B's tenant scope in the chain: denied outright.
        const own = await invoke(
          method,
          build({ principal: pprincipal(a.alice), scope_chain: [pscope(tenantScope(tenantB))] }),
          caller.token,
        );
        expect(own.err, `${caller.name} ${method} B's scope`).to.equal(null);
        (expectations[method] as (r: Json | undefined) => void)(own.res);
        const same = await invoke(
          method,
          build({ principal: pprincipal(a.alice), scope_chain: [pscope(tenantScope(a.tenantId))] }),
          caller.token,
        );
        expect(same.err).to.equal(null);
        if (method === 'Check') expect(same.res?.allowed, 'the control: allowed in its own tenant').to.equal(true);
      }
    }
  });

  it('a member of both tenants asking about itself with a token of A still cannot reach B', async () => {
    const db = t.service.db;
    const both = await createMember(db, a.tenantId);
    await db('memberships').insert({ tenant_id: tenantB, user_id: both.id, status: 'active' });
    const token = await mintApiToken(t.service, { sub: both.id, sub_type: 'user', tid: a.tenantId, client_id: 'app' });
    for (const method of methods) {
      const build = REQUESTS[method] as (typeof REQUESTS)[string];
      const r = await invoke(method, build({ tenant_id: tenantB, principal: pprincipal(both), scope_chain: [] }), token);
      expect(r.err?.code, method).to.equal(grpc.status.NOT_FOUND);
      const self = await invoke(method, build({ principal: pprincipal(both), scope_chain: [] }), token);
      expect(self.err, `${method} about itself in A`).to.equal(null);
    }
  });
});
