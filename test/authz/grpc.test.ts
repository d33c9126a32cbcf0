import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { loadContract } from '../../src/grpc/server.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';
import { bind, checkWorld, createMember, createRole, createTenant, override, project, revisionOf, team, tenantScope } from './support.ts';

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
  [member: string]: unknown;
}
type Unary = (request: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Json) => void) => grpc.ClientUnaryCall;
type World = Awaited<ReturnType<typeof checkWorld>>;

const pscope = (s: { type: string; id: string }) => ({ type: `SCOPE_TYPE_${s.type.toUpperCase()}`, id: s.id });
const pprincipal = (p: { type: string; id: string }) => ({ type: `PRINCIPAL_TYPE_${p.type.toUpperCase()}`, id: p.id });

describe('gRPC iam.v1.AuthorizationService', function () {
  this.timeout(60_000);
  let t: TestService;
  let w: World;
  let client: grpc.Client & Record<string, Unary>;
  let adminToken: string;
  let binding: string;
  let denyId: string;

  const invoke = (method: string, request: Json, md: Record<string, string> = {}) =>
    new Promise<{ err: grpc.ServiceError | null; res: Json | undefined; trailers: grpc.Metadata | undefined }>((done) => {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(md)) metadata.set(k, v);
      let trailers: grpc.Metadata | undefined;
      const call = (client[method] as Unary).call(client, request, metadata, (err, res) => {
        setImmediate(() => done({ err, res, trailers: trailers ?? err?.metadata }));
      });
      call.on('status', (s: grpc.StatusObject) => {
        trailers = s.metadata;
      });
    });
  const authed = (token = adminToken) => ({ authorization: `Bearer ${token}` });

  before(async () => {
    t = await startTestService();
    expect(t.service.grpcPort).to.be.a('number').greaterThan(0);
    const db = t.service.db;
    w = await checkWorld(db);
    binding = await bind(db, w.tenantId, w.alice, w.editor, team('team-1'));
    denyId = await override(db, w.tenantId, w.alice, 'iam.roles.read', 'deny', project('p-secret'), { reason: 'legal hold' });
    adminToken = await mintApiToken(t.service, { sub: w.admin.id, sub_type: 'user', tid: w.tenantId, client_id: 'app' });
    const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
      iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
    };
    client = new pkg.iam.v1.AuthorizationService(`127.0.0.1:${t.service.grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, Unary>;
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });

  it('Check: allow by binding, deny by override, with decision id, revision and request id', async () => {
    const revision = await revisionOf(t.service.db, w.tenantId);
    const ok = await invoke(
      'Check',
      { principal: pprincipal(w.alice), permission: 'iam.members.read', scope_chain: [pscope(team('team-1'))] },
      { ...authed(), 'iam-request-id': 'req-grpc-0001' },
    );
    expect(ok.err).to.equal(null);
    expect(ok.res).to.deep.include({ allowed: true, revision });
    expect(ok.res?.reason).to.deep.include({
      kind: 'binding',
      binding: { binding_id: binding, role_key: 'editor', scope: pscope(team('team-1')) },
    });
    expect(ok.res?.decision_id).to.match(/^[0-9a-f-]{36}$/);
    expect(ok.trailers?.get('iam-request-id')).to.deep.equal(['req-grpc-0001']);

    const denied = await invoke(
      'Check',
      {
        tenant_id: w.tenantId,
        principal: pprincipal(w.alice),
        permission: 'iam.roles.read',
        scope_chain: [pscope(tenantScope(w.tenantId)), pscope(team('team-1')), pscope(project('p-secret'))],
      },
      authed(),
    );
    expect(denied.res?.allowed).to.equal(false);
    expect(denied.res?.reason?.override).to.deep.equal({
      override_id: denyId,
      effect: 'OVERRIDE_EFFECT_DENY',
      scope: pscope(project('p-secret')),
      reason: 'legal hold',
    });
    const none = await invoke('Check', { principal: pprincipal(w.alice), permission: 'iam.members.read' }, authed());
    expect(none.res?.reason?.kind).to.equal('no_grant');
  });

  it('BatchCheck: results in order, one revision; more than 100 is INVALID_ARGUMENT', async () => {
    const r = await invoke(
      'BatchCheck',
      {
        principal: pprincipal(w.alice),
        checks: [
          { permission: 'iam.members.read', scope_chain: [pscope(team('team-1'))] },
          { permission: 'iam.members.read', scope_chain: [] },
        ],
      },
      authed(),
    );
    expect(r.err).to.equal(null);
    expect(r.res?.revision).to.equal(await revisionOf(t.service.db, w.tenantId));
    expect(r.res?.results?.map((x) => [x.allowed, x.reason.kind])).to.deep.equal([
      [true, 'binding'],
      [false, 'no_grant'],
    ]);
    const big = await invoke(
      'BatchCheck',
      { principal: pprincipal(w.alice), checks: Array.from({ length: 101 }, () => ({ permission: 'iam.members.read' })) },
      authed(),
    );
    expect(big.err?.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(big.trailers?.get('iam-problem-code')).to.deep.equal(['validation_failed']);
  });

  it('ListEffectivePermissions: bindings on the chain minus denies', async () => {
    const r = await invoke(
      'ListEffectivePermissions',
      { principal: pprincipal(w.alice), scope_chain: [pscope(team('team-1')), pscope(project('p-secret'))] },
      authed(),
    );
    expect(r.err).to.equal(null);
    expect(r.res).to.deep.equal({ revision: await revisionOf(t.service.db, w.tenantId), permissions: ['iam.members.read'] });
  });

  it('maps failures to status codes with the iam-problem-code trailer', async () => {
    const db = t.service.db;
    const req = { principal: pprincipal(w.alice), permission: 'iam.members.read' };
    const expectStatus = async (method: string, request: Json, md: Record<string, string>, code: grpc.status, problem: string) => {
      const r = await invoke(method, request, md);
      expect(r.err?.code, `${method} ${problem}`).to.equal(code);
      expect(r.trailers?.get('iam-problem-code'), `${method} ${problem}`).to.deep.equal([problem]);
    };
    await expectStatus('Check', req, {}, grpc.status.UNAUTHENTICATED, 'unauthorized');
    await expectStatus('Check', req, { authorization: 'Bearer nope' }, grpc.status.UNAUTHENTICATED, 'unauthorized');
    // Convenience copies that disagree with the token.
    await expectStatus(
      'Check',
      req,
      { ...authed(), 'iam-tenant': (await createTenant(db)) as string },
      grpc.status.UNAUTHENTICATED,
      'unauthorized',
    );
    await expectStatus('Check', req, { ...authed(), 'iam-subject-type': 'workload' }, grpc.status.UNAUTHENTICATED, 'unauthorized');

    const other = await createTenant(db);
    const stranger = await createMember(db, other);
    const role = await createRole(db, other, 'all', ['iam.members.read']);
    await bind(db, other, stranger, role, tenantScope(other));
    for (const method of ['Check', 'BatchCheck', 'ListEffectivePermissions']) {
      await expectStatus(
        method,
        { tenant_id: other, principal: pprincipal(stranger), permission: 'iam.members.read', checks: [{ permission: 'iam.members.read' }] },
        authed(),
        grpc.status.NOT_FOUND,
        'not_found',
      );
    }

    const aliceToken = await mintApiToken(t.service, { sub: w.alice.id, sub_type: 'user', tid: w.tenantId });
    await expectStatus('Check', { ...req, principal: pprincipal(w.bob) }, authed(aliceToken), grpc.status.PERMISSION_DENIED, 'forbidden');
    const self = await invoke('Check', { ...req, scope_chain: [pscope(team('team-1'))] }, authed(aliceToken));
    expect(self.res?.allowed).to.equal(true);

    await expectStatus(
      'Check',
      { ...req, principal: { type: 'PRINCIPAL_TYPE_UNSPECIFIED', id: w.alice.id } },
      authed(),
      grpc.status.INVALID_ARGUMENT,
      'validation_failed',
    );
    await expectStatus('Check', { permission: 'iam.members.read' }, authed(), grpc.status.INVALID_ARGUMENT, 'validation_failed');
    await expectStatus(
      'Check',
      { ...req, scope_chain: [pscope(project('p')), pscope(team('t'))] },
      authed(),
      grpc.status.INVALID_ARGUMENT,
      'validation_failed',
    );
    await expectStatus(
      'Check',
      { ...req, min_revision: (await revisionOf(db, w.tenantId)) + 100 },
      authed(),
      grpc.status.FAILED_PRECONDITION,
      'revision_not_visible',
    );
  });
});
