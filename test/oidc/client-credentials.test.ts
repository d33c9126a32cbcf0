import { expect } from 'chai';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { TestService } from '../support/service.ts';
import {
  clientCredentials,
  expectContract,
  introspect,
  introspectorClient,
  makeClient,
  ORDERS_API,
  revoke,
  startOidcService,
  type TestClient,
  workloadClient,
} from './support.ts';

/** openid-client (a certified RP library) against the full service: the P2 acceptance path. */
describe('oidc: client_credentials, introspection and revocation with openid-client', function () {
  this.timeout(60_000);
  let a: TestService;
  let b: TestService;
  let workload: TestClient;
  let rs: TestClient;
  let rp: oidc.Configuration;
  let rsAtA: oidc.Configuration;
  let rsAtB: oidc.Configuration;

  before(async () => {
    a = await startOidcService();
    // A second instance on the same database and Redis, with the same issuer (behind one load balancer).
    b = await startOidcService(
      { IAM_REDIS_KEY_PREFIX: a.env.IAM_REDIS_KEY_PREFIX as string },
      { database: a.database, issuer: a.service.config.issuer },
    );
    workload = await workloadClient(a);
    rs = await introspectorClient(a);
    const options = { execute: [oidc.allowInsecureRequests] };
    rp = await oidc.discovery(
      new URL(a.service.config.issuer),
      workload.client_id,
      undefined,
      oidc.ClientSecretBasic(workload.client_secret),
      options,
    );
    rsAtA = await oidc.discovery(
      new URL(a.service.config.issuer),
      rs.client_id,
      undefined,
      oidc.ClientSecretBasic(rs.client_secret),
      options,
    );
    // The same server metadata, with the introspection endpoint of instance B.
    const meta: oidc.ServerMetadata = {
      ...(JSON.parse(JSON.stringify(rsAtA.serverMetadata())) as oidc.ServerMetadata),
      introspection_endpoint: `${b.url}/introspect`,
      revocation_endpoint: `${b.url}/revoke`,
    };
    rsAtB = new oidc.Configuration(meta, rs.client_id, undefined, oidc.ClientSecretBasic(rs.client_secret));
    oidc.allowInsecureRequests(rsAtB);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('discovers the issuer with the protocol surface P2 promises', () => {
    const m = rp.serverMetadata();
    expect(m.issuer).to.equal(a.service.config.issuer);
    expect(m.jwks_uri).to.equal(`${a.service.config.issuer}/.well-known/jwks.json`);
    expect(m.response_types_supported).to.deep.equal(['code']);
    expect(m.code_challenge_methods_supported).to.deep.equal(['S256']);
    expect(m.grant_types_supported).to.include.members(['authorization_code', 'refresh_token', 'client_credentials']);
    expect(m.grant_types_supported).not.to.include.members(['implicit', 'password']);
    expect(m.authorization_response_iss_parameter_supported).to.equal(true);
    expect(m.pushed_authorization_request_endpoint).to.be.a('string');
    expect(m.dpop_signing_alg_values_supported).to.include('ES256');
    expect(m.introspection_endpoint).to.equal(`${a.service.config.issuer}/introspect`);
    expect(m.revocation_endpoint).to.equal(`${a.service.config.issuer}/revoke`);
    expect(m.end_session_endpoint).to.be.a('string');
    expect(m.backchannel_logout_supported).to.equal(true);
    expect(m.id_token_signing_alg_values_supported).to.deep.equal(['ES256']);
    expect(m.token_endpoint_auth_methods_supported).not.to.include('client_secret_jwt');
  });

  it('issues an RFC 9068 JWT access token that verifies against the published JWKS and the contract', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read', resource: ORDERS_API });
    expect(tokens.token_type.toLowerCase()).to.equal('bearer');
    expect(tokens.refresh_token).to.equal(undefined);
    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri as string));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: a.service.config.issuer,
      audience: ORDERS_API,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
    });
    expect(protectedHeader.kid).to.equal(a.service.keys.activeSigner('access').kid);
    expect(payload).to.include({ sub: workload.client_id, client_id: workload.client_id, scope: 'orders.read', sub_type: 'workload' });
    expect((payload.exp as number) - (payload.iat as number)).to.equal(a.service.config.oidc.client_credentials_ttl_s);
    expectContract('accessToken', tokens.access_token);
  });

  it('introspects, revokes and then sees the token inactive — on this and on a second instance', async () => {
    const { access_token: at } = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read orders.write', resource: ORDERS_API });
    const claims = decodeJwt(at);

    const active = await oidc.tokenIntrospection(rsAtA, at);
    expect(active).to.include({
      active: true,
      client_id: workload.client_id,
      sub: workload.client_id,
      sub_type: 'workload',
      scope: 'orders.read orders.write',
      iss: a.service.config.issuer,
      jti: claims.jti,
      exp: claims.exp,
      iat: claims.iat,
      token_type: 'Bearer',
    });
    expect(active.aud).to.equal(ORDERS_API);
    // Instance B answers the same, from the same keys and the same denylist.
    expect(await oidc.tokenIntrospection(rsAtB, at)).to.include({ active: true, jti: claims.jti });

    // Only the client the token was issued to may revoke it (RFC 7009 §2.1).
    await oidc.tokenRevocation(rp, at);

    expect(await oidc.tokenIntrospection(rsAtA, at)).to.deep.equal({ active: false });
    // B had a positive answer cached; the revocation NOTIFY evicts it well before the cache would expire.
    const deadline = Date.now() + 3_000;
    let atB = await oidc.tokenIntrospection(rsAtB, at);
    while (atB.active && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      atB = await oidc.tokenIntrospection(rsAtB, at);
    }
    expect(atB).to.deep.equal({ active: false });
  });

  it('DPoP: a sender-constrained token carries cnf.jkt, in the JWT and in introspection', async () => {
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(rp, keyPair);
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read', resource: ORDERS_API }, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).to.equal('dpop');
    const { payload } = expectContract('accessToken', tokens.access_token);
    const { calculateJwkThumbprint, exportJWK } = await import('jose');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    expect(payload.cnf).to.deep.equal({ jkt });
    expect(await oidc.tokenIntrospection(rsAtA, tokens.access_token)).to.deep.include({ active: true, token_type: 'DPoP', cnf: { jkt } });
  });

  it('a revocation on one instance is seen at once by an instance that had not cached the token', async () => {
    const { access_token: at } = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read', resource: ORDERS_API });
    await oidc.tokenRevocation(rp, at);
    expect(await oidc.tokenIntrospection(rsAtB, at)).to.deep.equal({ active: false });
  });

  it('writes the denylist row, a token.revoked outbox event and an audit event in one go', async () => {
    const { access_token: at } = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read', resource: ORDERS_API });
    const { jti, exp } = decodeJwt(at);
    await oidc.tokenRevocation(rp, at);
    await oidc.tokenRevocation(rp, at); // idempotent: no second event
    const db = a.service.db;
    const row = await db('token_revocations').where({ jti }).first();
    expect(row).to.include({ client_id: workload.client_id, token_type: 'access_token', reason: 'revoked_by_client' });
    expect(new Date(row.expires_at).getTime()).to.equal((exp as number) * 1000);
    const events = await db('outbox_events').where({ type: 'com.infranotes.iam.token.revoked', subject: jti });
    expect(events).to.have.length(1);
    expect(events[0].key).to.equal(jti);
    expect(events[0].data).to.include({ token_type: 'access_token', reason: 'revoked_by_client', revokes: 'token', jti });
    const audits = await db('audit_events').where({ action: 'token.revoked', target_id: jti });
    expect(audits).to.have.length(1);
    expect(audits[0]).to.include({ actor_type: 'client', actor_id: workload.client_id });
  });

  it('only clients holding iam.tokens.introspect may introspect; others always read inactive', async () => {
    const { access_token: at } = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read', resource: ORDERS_API });
    // The token's own client has no introspection capability.
    const own = await introspect(a.url, workload, at);
    expect(own.status).to.equal(200);
    expect(own.json).to.deep.equal({ active: false });
    // Wrong credentials: invalid_client, not an answer.
    const bad = await introspect(a.url, { ...rs, client_secret: 'wrong' }, at);
    expect(bad.status).to.equal(401);
    expect(bad.json.error).to.equal('invalid_client');
  });

  it('a tenant-scoped introspector only learns about tokens of its own tenant', async () => {
    const [tenantA] = await a.service.db('tenants').insert({ slug: 'acme-cc', name: 'Acme' }).returning('id');
    const [tenantB] = await a.service.db('tenants').insert({ slug: 'globex-cc', name: 'Globex' }).returning('id');
    const tenantWorkload = await workloadClient(a, { tenant_id: tenantA.id });
    const rsA = await introspectorClient(a, { tenant_id: tenantA.id });
    const rsB = await introspectorClient(a, { tenant_id: tenantB.id });
    const { json } = await clientCredentials(a, tenantWorkload, { resource: ORDERS_API });
    const at = json.access_token as string;
    expect(decodeJwt(at).tid).to.equal(tenantA.id);
    expectContract('accessToken', at);
    expect((await introspect(a.url, rsA, at)).json).to.include({ active: true, tid: tenantA.id, sub_type: 'workload' });
    expect((await introspect(a.url, rsB, at)).json).to.deep.equal({ active: false });
    // A platform introspector sees every tenant.
    expect((await introspect(a.url, rs, at)).json).to.include({ active: true, tid: tenantA.id });
  });

  it('a client cannot revoke a token issued to another client', async () => {
    const other = await workloadClient(a);
    const { json } = await clientCredentials(a, workload, { resource: ORDERS_API });
    const at = json.access_token as string;
    const res = await revoke(a.url, other, at);
    expect(res.status).to.equal(400);
    expect(res.json.error).to.equal('invalid_request');
    expect((await introspect(a.url, rs, at)).json.active).to.equal(true);
    // Garbage, expired or foreign tokens are "revoked" without an error (RFC 7009 §2.2).
    expect((await revoke(a.url, workload, 'not-a-token')).status).to.equal(200);
    expect((await revoke(a.url, workload, `${at.slice(0, -4)}AAAA`)).status).to.equal(200);
  });

  it('opaque access tokens for clients that ask for them: introspectable with tid/sub_type, revocable', async () => {
    const opaque = await workloadClient(a, { access_token_format: 'opaque' });
    const { json } = await clientCredentials(a, opaque, { resource: ORDERS_API });
    const at = json.access_token as string;
    expect(() => decodeProtectedHeader(at)).to.throw();
    const r = await introspect(a.url, rs, at);
    expect(r.json).to.include({ active: true, client_id: opaque.client_id, sub_type: 'workload', aud: ORDERS_API, token_type: 'Bearer' });
    expect((await revoke(a.url, opaque, at)).status).to.equal(200);
    expect((await introspect(a.url, rs, at)).json).to.deep.equal({ active: false });
    const events = await a.service
      .db('outbox_events')
      .where({ type: 'com.infranotes.iam.token.revoked' })
      .whereRaw("data->>'client_id' = ?", [opaque.client_id]);
    expect(events).to.have.length(1);
    expect(JSON.stringify(events[0])).not.to.include(at);
  });

  it('access tokens are audience-restricted: the resource must be one the client is allowed', async () => {
    const r = await clientCredentials(a, workload, { resource: 'https://elsewhere.example.test' });
    expect(r.status).to.equal(400);
    expect(r.json.error).to.equal('invalid_target');
    // Exactly one allowed resource: it is the default.
    const d = await clientCredentials(a, workload);
    expect(d.status).to.equal(200);
    expect(decodeJwt(d.json.access_token as string).aud).to.equal(ORDERS_API);
    // Several allowed resources and none asked for: an error, never an audience-less token.
    const multi = await workloadClient(a, { allowed_resources: [ORDERS_API, 'https://billing.api.example.test'] });
    const m = await clientCredentials(a, multi);
    expect(m.status).to.equal(400);
    expect(m.json.error).to.equal('invalid_target');
    // Scopes are limited to the client's allowed scopes.
    const s = await clientCredentials(a, workload, { resource: ORDERS_API, scope: 'orders.read admin.all' });
    expect(s.status).to.equal(200);
    expect(s.json.scope).to.equal('orders.read');
  });

  it('IAM’s own API is a resource like any other, carrying only iam.* scopes', async () => {
    const c = await makeClient(a, {
      grant_types: ['client_credentials'],
      allowed_resources: [`${a.service.config.issuer}/v1`, ORDERS_API],
      allowed_scopes: ['iam.permissions.register', 'orders.read'],
    });
    const r = await clientCredentials(a, c, { resource: `${a.service.config.issuer}/v1`, scope: 'iam.permissions.register orders.read' });
    expect(r.status).to.equal(200);
    expect(r.json.scope).to.equal('iam.permissions.register');
    expectContract('accessToken', r.json.access_token as string);
  });

  it('fails closed: with the revocation records unreadable, introspection and revocation answer 503, never active', async () => {
    const { access_token: at } = await oidc.clientCredentialsGrant(rp, { scope: 'orders.read', resource: ORDERS_API });
    a.service.oidc.introspectionCache.clear();
    await a.service.db.raw('alter table token_revocations rename to token_revocations_away');
    try {
      const r = await introspect(a.url, rs, at);
      expect(r.status).to.equal(503);
      expect(r.json).to.deep.equal({ error: 'temporarily_unavailable', error_description: 'try again shortly' });
      const v = await revoke(a.url, workload, at);
      expect(v.status).to.equal(503);
      expect(v.json.error).to.equal('temporarily_unavailable');
    } finally {
      await a.service.db.raw('alter table token_revocations_away rename to token_revocations');
    }
    expect((await introspect(a.url, rs, at)).json.active).to.equal(true);
  });
});
