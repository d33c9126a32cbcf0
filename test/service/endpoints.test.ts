import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'priv'];

describe('service endpoints', function () {
  this.timeout(60_000);
  let t: TestService;

  before(async () => {
    t = await startTestService();
  });
  after(async () => {
    await t?.stop();
  });

  it('/health answers 200', async () => {
    const res = await fetch(`${t.url}/health`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok' });
  });

  it('/ready answers 200 with per-dependency details', async () => {
    const res = await fetch(`${t.url}/ready`);
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string; required: boolean }> };
    expect(res.status).to.equal(200);
    expect(body.status).to.equal('ready');
    expect(body.checks.postgres?.status).to.equal('up');
    expect(body.checks.redis?.status).to.equal('up');
    expect(body.checks.migrations?.status).to.equal('up');
    expect(body.checks.keys?.status).to.equal('up');
    // No brokers configured: the outbox keeps events and the relay idles, visibly.
    expect(body.checks.kafka).to.include({ status: 'disabled', required: false });
  });

  it('/metrics exposes HTTP, pool, outbox and key metrics', async () => {
    await fetch(`${t.url}/health`);
    const res = await fetch(`${t.url}/metrics`);
    const text = await res.text();
    expect(res.status).to.equal(200);
    for (const name of [
      'iam_http_requests_total{method="GET",route="/health",status="200"}',
      'iam_http_request_duration_seconds_bucket',
      'iam_db_pool_connections',
      'iam_outbox_pending',
      'iam_outbox_lag_seconds',
      'iam_outbox_published_total',
      'iam_signing_keys{purpose="access",state="active"} 1',
      'iam_process_cpu_seconds_total',
    ]) {
      expect(text).to.include(name);
    }
  });

  it('serves OIDC discovery that points at our JWKS', async () => {
    const res = await fetch(`${t.url}/.well-known/openid-configuration`);
    expect(res.status).to.equal(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc.issuer).to.equal(t.service.config.issuer);
    expect(String(doc.jwks_uri)).to.match(/\/\.well-known\/jwks\.json$/);
    expect(doc.response_types_supported).to.deep.equal(['code']);
    expect(doc.code_challenge_methods_supported).to.deep.equal(['S256']);
  });

  it('JWKS holds an ES256 and an Ed25519 public key and nothing private', async () => {
    const res = await fetch(`${t.url}/.well-known/jwks.json`);
    expect(res.status).to.equal(200);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => k.alg).sort()).to.deep.equal(['ES256', 'EdDSA']);
    expect(keys.find((k) => k.alg === 'EdDSA')).to.include({ kty: 'OKP', crv: 'Ed25519' });
    expect(keys.find((k) => k.alg === 'ES256')).to.include({ kty: 'EC', crv: 'P-256' });
    for (const k of keys) for (const m of PRIVATE_MEMBERS) expect(k, `member ${m}`).not.to.have.property(m);
  });

  it('unknown paths get a 404 problem document', async () => {
    const res = await fetch(`${t.url}/no/such/thing`);
    expect(res.status).to.equal(404);
    expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).to.include({ status: 404, code: 'not_found', type: 'urn:infranotes:iam:problem:not_found' });
    expect(body.request_id).to.equal(res.headers.get('x-request-id'));
  });

  it('a wrong method on one of our routes is a 405 problem, not a 500', async () => {
    const res = await fetch(`${t.url}/health`, { method: 'DELETE' });
    expect(res.status).to.equal(405);
    expect(((await res.json()) as { code: string }).code).to.equal('method_not_allowed');
  });

  it('keeps a well-formed inbound request id and sets security headers', async () => {
    const res = await fetch(`${t.url}/health`, { headers: { 'x-request-id': 'req-0123456789' } });
    expect(res.headers.get('x-request-id')).to.equal('req-0123456789');
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    const forged = await fetch(`${t.url}/health`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(forged.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
  });
});
