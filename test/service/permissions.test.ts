import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';

interface Problem {
  type: string;
  status: number;
  code: string;
  invalid_params?: { name: string; reason: string }[];
}

describe('POST /v1/permissions (a non-OAuth route with a body)', function () {
  this.timeout(60_000);
  let t: TestService;
  let token: string;
  const counts = async () => {
    const db = t.service.db;
    const [p, a, o] = await Promise.all([
      db('permissions').count<{ count: string }[]>('* as count'),
      db('audit_events').count<{ count: string }[]>('* as count'),
      db('outbox_events').count<{ count: string }[]>('* as count'),
    ]);
    return { permissions: Number(p[0]?.count), audit: Number(a[0]?.count), outbox: Number(o[0]?.count) };
  };
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/v1/permissions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body,
    });

  before(async () => {
    t = await startTestService();
    token = await mintApiToken(t.service);
  });
  after(async () => {
    await t?.stop();
  });

  it('registers a permission with its audit and outbox events in one transaction', async () => {
    const before = await counts();
    const res = await post(JSON.stringify({ key: 'billing.invoices.read', description: 'Read invoices' }));
    expect(res.status).to.equal(201);
    expect(await res.json()).to.include({ key: 'billing.invoices.read', service: 'billing', registered_by: 'workload:svc-billing' });
    const after = await counts();
    expect(after).to.deep.equal({ permissions: before.permissions + 1, audit: before.audit + 1, outbox: before.outbox + 1 });
    const event = await t.service.db('outbox_events').orderBy('position', 'desc').first();
    expect(event).to.include({ type: 'com.infranotes.iam.permission.registered', key: 'billing.invoices.read' });
    // Re-registering the same definition is idempotent.
    const again = await post(JSON.stringify({ key: 'billing.invoices.read', description: 'Read invoices' }));
    expect(again.status).to.equal(200);
    expect(await counts()).to.deep.equal(after);
  });

  const malformed: [string, string, Record<string, string>, number, string][] = [
    ['invalid JSON', '{"key": "billing.x.y",', {}, 400, 'malformed_body'],
    ['a JSON array instead of an object', '[1,2]', {}, 400, 'validation_failed'],
    ['a missing field', '{"key":"billing.invoices.pay"}', {}, 400, 'validation_failed'],
    ['a bad key format', '{"key":"Billing Invoices","description":"x"}', {}, 400, 'validation_failed'],
    ['an unknown member', '{"key":"billing.invoices.pay","description":"x","admin":true}', {}, 400, 'validation_failed'],
    ['a wrong type', '{"key":"billing.invoices.pay","description":42}', {}, 400, 'validation_failed'],
    ['a form body', 'key=billing.invoices.pay', { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
    [
      'an oversized body',
      JSON.stringify({ key: 'billing.invoices.pay', description: 'x'.repeat(70 * 1024) }),
      {},
      413,
      'payload_too_large',
    ],
  ];
  for (const [name, body, headers, status, code] of malformed) {
    it(`rejects ${name} with a ${status} problem and writes nothing`, async () => {
      const before = await counts();
      const res = await post(body, headers);
      expect(res.status).to.equal(status);
      expect(res.headers.get('content-type')).to.match(/^application\/problem\+json/);
      const problem = (await res.json()) as Problem;
      expect(problem).to.include({ status, code, type: `urn:infranotes:iam:problem:${code}` });
      if (code === 'validation_failed') expect(problem.invalid_params).to.be.an('array').that.is.not.empty;
      expect(await counts()).to.deep.equal(before);
    });
  }

  it('requires a valid bearer token for IAM’s API audience and the registration scope', async () => {
    const body = JSON.stringify({ key: 'billing.invoices.void', description: 'Void invoices' });
    const before = await counts();
    const none = await fetch(`${t.url}/v1/permissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.equal('Bearer');
    const wrongAud = await post(body, { authorization: `Bearer ${await mintApiToken(t.service, { aud: t.service.config.issuer })}` });
    expect(wrongAud.status).to.equal(401);
    const expired = await post(body, {
      authorization: `Bearer ${await mintApiToken(t.service, { exp: Math.floor(Date.now() / 1000) - 60 })}`,
    });
    expect(expired.status).to.equal(401);
    const tampered = await post(body, { authorization: `Bearer ${token.slice(0, -4)}AAAA` });
    expect(tampered.status).to.equal(401);
    const noScope = await post(body, { authorization: `Bearer ${await mintApiToken(t.service, { scope: 'openid' })}` });
    expect(noScope.status).to.equal(403);
    const revokedToken = await mintApiToken(t.service, { jti: 'revoked-jti-1' });
    await t.service.db('token_revocations').insert({ jti: 'revoked-jti-1', expires_at: new Date(Date.now() + 60_000), reason: 'test' });
    const revoked = await post(body, { authorization: `Bearer ${revokedToken}` });
    expect(revoked.status).to.equal(401);
    const grantToken = await mintApiToken(t.service, { grant_id: 'grant-revoked-1' });
    await t.service.db('revoked_grants').insert({ grant_id: 'grant-revoked-1', expires_at: new Date(Date.now() + 60_000), reason: 'test' });
    expect((await post(body, { authorization: `Bearer ${grantToken}` })).status).to.equal(401);
    const reserved = await post(JSON.stringify({ key: 'iam.tenants.manage', description: 'x' }));
    expect(reserved.status).to.equal(403);
    expect(await counts()).to.deep.equal(before);
  });
});
