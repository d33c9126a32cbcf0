import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { loadContract } from '../../src/grpc/server.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';
import { bind, checkWorld, team } from './support.ts';

/** A CA, a server certificate for 127.0.0.1 and two client certificates, made with openssl. */
function makePki(dir: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  key('ca');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=test-ca', '-days', '1', '-out', 'ca.pem');
  const issue = (name: string, subject: string, ext: string) => {
    key(name);
    ssl('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  };
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  issue('client', '/CN=workload-a', 'extendedKeyUsage=clientAuth\n');
  issue('other', '/CN=workload-b', 'extendedKeyUsage=clientAuth\n');
  const file = (n: string) => readFileSync(join(dir, n));
  const thumbprint = (n: string) =>
    createHash('sha256')
      .update(new X509Certificate(file(`${n}.pem`)).raw)
      .digest('base64url');
  return { file, thumbprint };
}

interface Answer {
  allowed: boolean;
}
type Unary = (request: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Answer) => void) => grpc.ClientUnaryCall;

describe('gRPC over mutual TLS (Profile C)', function () {
  this.timeout(60_000);
  let dir: string;
  let pki: ReturnType<typeof makePki>;
  let t: TestService;
  let w: Awaited<ReturnType<typeof checkWorld>>;
  const clients: grpc.Client[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iam-grpc-pki-'));
    pki = makePki(dir);
    t = await startTestService({
      IAM_GRPC_TLS_CERT_FILE: join(dir, 'server.pem'),
      IAM_GRPC_TLS_KEY_FILE: join(dir, 'server.key'),
      IAM_GRPC_TLS_CLIENT_CA_FILE: join(dir, 'ca.pem'),
    });
    w = await checkWorld(t.service.db);
    await bind(t.service.db, w.tenantId, w.alice, w.editor, team('t1'));
  });
  after(async () => {
    for (const c of clients) c.close();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const check = (creds: grpc.ChannelCredentials, token: string) => {
    const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
      iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
    };
    // SNI carries a host name, never an IP address (RFC 6066); the server certificate names both.
    const client = new pkg.iam.v1.AuthorizationService(`127.0.0.1:${t.service.grpcPort}`, creds, {
      'grpc.ssl_target_name_override': 'localhost',
    });
    clients.push(client);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const request = {
      principal: { type: 'PRINCIPAL_TYPE_USER', id: w.alice.id },
      permission: 'iam.members.read',
      scope_chain: [{ type: 'SCOPE_TYPE_TEAM', id: 't1' }],
    };
    return new Promise<{ err: grpc.ServiceError | null; res?: Answer }>((done) =>
      ((client as unknown as Record<string, Unary>).Check as Unary).call(client, request, md, (err, res) => done({ err, res })),
    );
  };
  const withCert = (name: string) => grpc.credentials.createSsl(pki.file('ca.pem'), pki.file(`${name}.key`), pki.file(`${name}.pem`));
  const token = (claims: Record<string, unknown> = {}) =>
    mintApiToken(t.service, { sub: w.admin.id, sub_type: 'user', tid: w.tenantId, ...claims });

  it('answers a client presenting a certificate from the workload CA', async () => {
    const r = await check(withCert('client'), await token());
    expect(r.err).to.equal(null);
    expect(r.res?.allowed).to.equal(true);
  });

  it('refuses a connection without a client certificate, and plaintext', async () => {
    const noCert = await check(grpc.credentials.createSsl(pki.file('ca.pem')), await token());
    expect(noCert.err?.code).to.equal(grpc.status.UNAVAILABLE);
    const plain = await check(grpc.credentials.createInsecure(), await token());
    expect(plain.err?.code).to.equal(grpc.status.UNAVAILABLE);
  });

  it('honours a certificate-bound token (cnf.x5t#S256) only over that certificate', async () => {
    const bound = await token({ cnf: { 'x5t#S256': pki.thumbprint('client') } });
    expect((await check(withCert('client'), bound)).res?.allowed).to.equal(true);
    const stolen = await check(withCert('other'), bound);
    expect(stolen.err?.code).to.equal(grpc.status.UNAUTHENTICATED);
    expect(stolen.err?.metadata.get('iam-problem-code')).to.deep.equal(['unauthorized']);
  });
});
