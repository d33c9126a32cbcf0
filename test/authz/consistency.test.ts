import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { loadContract } from '../../src/grpc/server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';
import { bind, checkWorld, revisionOf, team } from './support.ts';

interface CheckAnswer {
  allowed: boolean;
  revision: number;
}
type Unary = (request: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: CheckAnswer) => void) => grpc.ClientUnaryCall;

describe('authz consistency across instances', function () {
  this.timeout(90_000);
  let database: TestDatabase;
  let a: TestService;
  let b: TestService;
  const clients: grpc.Client[] = [];

  before(async () => {
    database = await createTestDatabase({ migrate: false });
    // Hour-long cache TTL: whatever an instance learns quickly, it learns from NOTIFY or min_revision.
    const env = { IAM_AUTHZ_CACHE_TTL_S: '3600' };
    a = await startTestService(env, database);
    b = await startTestService(env, database);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  const rest = async (t: TestService, token: string, body: unknown): Promise<CheckAnswer> => {
    const res = await fetch(`${t.url}/v1/authz/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).to.equal(200);
    return (await res.json()) as CheckAnswer;
  };
  const viaGrpc = (t: TestService, token: string, request: unknown) => {
    const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
      iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
    };
    const client = new pkg.iam.v1.AuthorizationService(`127.0.0.1:${t.service.grpcPort}`, grpc.credentials.createInsecure());
    clients.push(client);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    return new Promise<CheckAnswer>((ok, fail) =>
      ((client as unknown as Record<string, Unary>).Check as Unary).call(client, request, md, (err, res) =>
        err || !res ? fail(err) : ok(res),
      ),
    );
  };

  it('after a revoke, a check with the returned revision is denied on every instance, at once', async () => {
    const db = a.service.db;
    const w = await checkWorld(db);
    const binding = await bind(db, w.tenantId, w.alice, w.editor, team('t1'));
    const token = await mintApiToken(a.service, { sub: w.admin.id, sub_type: 'user', tid: w.tenantId });
    const body = { principal: w.alice, permission: 'iam.members.read', scope_chain: [{ type: 'team', id: 't1' }] };
    const grpcBody = {
      principal: { type: 'PRINCIPAL_TYPE_USER', id: w.alice.id },
      permission: 'iam.members.read',
      scope_chain: [{ type: 'SCOPE_TYPE_TEAM', id: 't1' }],
    };
    // Both instances hold an allowing snapshot.
    for (const t of [a, b]) {
      expect((await rest(t, token, body)).allowed).to.equal(true);
      expect((await viaGrpc(t, token, grpcBody)).allowed).to.equal(true);
    }
    // The revoke, and the revision a writer would hand back (the trigger bumped it in the same transaction).
    const revision = await db.transaction(async (trx) => {
      await trx('scope_bindings').where({ id: binding }).delete();
      return revisionOf(trx, w.tenantId);
    });
    // No waiting for notifications: the very next check naming the revision is denied everywhere.
    const answers = await Promise.all([
      rest(a, token, { ...body, min_revision: revision }),
      rest(b, token, { ...body, min_revision: revision }),
      viaGrpc(a, token, { ...grpcBody, min_revision: revision }),
      viaGrpc(b, token, { ...grpcBody, min_revision: revision }),
    ]);
    for (const answer of answers) expect(answer).to.deep.include({ allowed: false, revision });
    expect(revision).to.equal(await revisionOf(db, w.tenantId));
  });

  it('without a revision, every instance stops allowing within a second (NOTIFY)', async () => {
    const db = b.service.db;
    const w = await checkWorld(db);
    const binding = await bind(db, w.tenantId, w.bob, w.editor, team('t2'));
    const token = await mintApiToken(b.service, { sub: w.admin.id, sub_type: 'user', tid: w.tenantId });
    const body = { principal: w.bob, permission: 'iam.members.read', scope_chain: [{ type: 'team', id: 't2' }] };
    for (const t of [a, b]) expect((await rest(t, token, body)).allowed).to.equal(true);
    await db('scope_bindings').where({ id: binding }).delete();
    const started = Date.now();
    for (const t of [a, b]) {
      while ((await rest(t, token, body)).allowed) {
        expect(Date.now() - started, 'stale allow beyond one second').to.be.lessThan(1_000);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  });
});
