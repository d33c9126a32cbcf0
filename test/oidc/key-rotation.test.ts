import { expect } from 'chai';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
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

const GRACE_S = 4;

/** A key rotation mid-test: tokens of the previous key keep verifying until its grace ends. */
describe('oidc: signing key rotation', function () {
  this.timeout(60_000);
  let t: TestService;
  let workload: TestClient;
  let rs: TestClient;

  before(async () => {
    t = await startOidcService({ IAM_KEYS_RETIRE_GRACE_S: String(GRACE_S) });
    workload = await workloadClient(t);
    rs = await introspectorClient(t);
  });
  after(async () => {
    await t?.stop();
  });

  const jwks = async () => createLocalJWKSet((await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: [] });
  const token = async () => {
    const r = await clientCredentials(t, workload, { resource: ORDERS_API });
    expect(r.status).to.equal(200);
    return r.json.access_token as string;
  };
  const verify = async (at: string) =>
    jwtVerify(at, await jwks(), { issuer: t.service.config.issuer, audience: ORDERS_API, typ: 'at+jwt', algorithms: ['ES256'] });

  it('after an immediate rotation old tokens verify and introspect, new ones carry the new kid, until the grace ends', async () => {
    const before = await token();
    const oldKid = decodeProtectedHeader(before).kid;
    expect(oldKid).to.equal(t.service.keys.activeSigner('access').kid);

    await t.service.keys.rotate('access', { immediate: true });
    const newKid = t.service.keys.activeSigner('access').kid;
    expect(newKid).to.not.equal(oldKid);

    // The retired key is still published, so the old token verifies and is active.
    const published = ((await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map(
      (k) => k.kid,
    );
    expect(published).to.include.members([oldKid, newKid]);
    await verify(before);
    expect((await introspect(t.url, rs, before)).json).to.include({ active: true });

    // The engine was rebuilt on the change: new tokens are signed by the new key.
    const after = await token();
    expect(decodeProtectedHeader(after).kid).to.equal(newKid);
    expectContract('accessToken', after);
    await verify(after);
    expect((await introspect(t.url, rs, after)).json).to.include({ active: true });

    // Grace over: the old key leaves JWKS, and its tokens stop verifying and introspect inactive.
    await new Promise((r) => setTimeout(r, GRACE_S * 1000 + 500));
    const later = ((await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(later).to.not.include(oldKid);
    let failed = false;
    await verify(before).catch(() => {
      failed = true;
    });
    expect(failed, 'a token of a removed key must not verify').to.equal(true);
    expect((await introspect(t.url, rs, before)).json).to.deep.equal({ active: false });
    expect((await introspect(t.url, rs, after)).json).to.include({ active: true });
  });

  it('a token signed by the Ed25519 refresh key is never an IAM access token (ADR-0011)', async () => {
    const { signJwt } = await import('../../src/keys/index.ts');
    const forged = await signJwt(
      t.service.keys.activeSigner('refresh'),
      { typ: 'at+jwt' },
      {
        iss: t.service.config.issuer,
        sub: workload.client_id,
        client_id: workload.client_id,
        aud: ORDERS_API,
        jti: 'forged-jti',
        sub_type: 'workload',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 60,
      },
    );
    expect((await introspect(t.url, rs, forged)).json).to.deep.equal({ active: false });
  });
});
