import { expect } from 'chai';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { refreshTokenTtl } from '../../src/oidc/provider.ts';
import type { TestService } from '../support/service.ts';
import {
  basic,
  expectContract,
  form,
  introspect,
  introspectorClient,
  makeClient,
  ORDERS_API,
  startOidcService,
  type TestClient,
} from './support.ts';

interface EngineModels {
  Client: { find(id: string): Promise<unknown> };
  Grant: new (
    p: Record<string, unknown>,
  ) => {
    addOIDCScope(s: string): void;
    addResourceScope(r: string, s: string): void;
    save(): Promise<string>;
  };
  RefreshToken: new (p: Record<string, unknown>) => { save(): Promise<string> };
}

/**
 * Refresh tokens: rotation, reuse detection that revokes every token of the grant (JWT access
 * tokens included), absolute lifetime. Sign-in arrives with P3, so the grant and the first refresh
 * token are created directly in storage through the engine's own models.
 */
describe('oidc: refresh tokens', function () {
  this.timeout(60_000);
  let t: TestService;
  let web: TestClient;
  let rs: TestClient;
  let rp: oidc.Configuration;
  let userId: string;
  let tenantId: string;

  async function issueGrant(opts: { iiatAgoS?: number } = {}): Promise<{ grantId: string; refreshToken: string }> {
    const provider = t.service.oidc.provider() as unknown as EngineModels;
    const client = await provider.Client.find(web.client_id);
    const grant = new provider.Grant({ accountId: userId, clientId: web.client_id });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(ORDERS_API, 'orders.read');
    const grantId = await grant.save();
    const now = Math.floor(Date.now() / 1000);
    const rt = new provider.RefreshToken({
      accountId: userId,
      grantId,
      client,
      scope: 'openid offline_access orders.read',
      resource: ORDERS_API,
      gty: 'authorization_code',
      authTime: now - 30,
      acr: 'urn:infranotes:iam:acr:pwd',
      amr: ['pwd'],
      sid: 'test-session-id',
      ...(opts.iiatAgoS ? { iiat: now - opts.iiatAgoS } : {}),
    });
    return { grantId, refreshToken: await rt.save() };
  }

  const refresh = (refreshToken: string) =>
    form(`${t.url}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, { authorization: basic(web) });

  before(async () => {
    t = await startOidcService();
    [{ id: tenantId }] = await t.service.db('tenants').insert({ slug: 'acme-rt', name: 'Acme' }).returning('id');
    [{ id: userId }] = await t.service.db('users').insert({ email: 'ada@example.test', display_name: 'Ada' }).returning('id');
    // A tenant client's user tokens need an active membership (checked at every issuance).
    await t.service.db('memberships').insert({ tenant_id: tenantId, user_id: userId, status: 'active' });
    web = await makeClient(t, {
      name: 'web app',
      tenant_id: tenantId,
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.test/cb'],
      allowed_resources: [ORDERS_API],
      allowed_scopes: ['openid', 'offline_access', 'orders.read'],
    });
    rs = await introspectorClient(t);
    rp = await oidc.discovery(new URL(t.service.config.issuer), web.client_id, undefined, oidc.ClientSecretBasic(web.client_secret), {
      execute: [oidc.allowInsecureRequests],
    });
  });
  after(async () => {
    await t?.stop();
  });

  it('rotates on every refresh; the tokens carry the user claims of the contract', async () => {
    const { grantId, refreshToken } = await issueGrant();
    const tokens = await oidc.refreshTokenGrant(rp, refreshToken);
    expect(tokens.refresh_token).to.be.a('string').and.not.equal(refreshToken);
    const at = expectContract('accessToken', tokens.access_token).payload;
    expect(at).to.include({
      sub: userId,
      client_id: web.client_id,
      aud: ORDERS_API,
      scope: 'orders.read',
      sub_type: 'user',
      tid: tenantId,
      grant_id: grantId,
      acr: 'urn:infranotes:iam:acr:pwd',
      sid: 'test-session-id',
    });
    expect(at.amr).to.deep.equal(['pwd']);
    expect(at.auth_time).to.be.a('number');
    expect((at.exp as number) - (at.iat as number)).to.equal(t.service.config.oidc.access_token_ttl_s);
    const id = expectContract('idToken', tokens.id_token as string).payload;
    expect(id).to.include({ sub: userId, aud: web.client_id, iss: t.service.config.issuer });

    // Refresh tokens are opaque and introspectable by an authorised resource server, with tid/sub_type.
    expect(() => decodeJwt(tokens.refresh_token as string)).to.throw();
    const r = await introspect(t.url, rs, tokens.refresh_token as string);
    expect(r.json).to.include({ active: true, client_id: web.client_id, sub: userId, sub_type: 'user', tid: tenantId });
    expect((await introspect(t.url, rs, refreshToken)).json).to.deep.equal({ active: false });
  });

  it('replaying a rotated refresh token revokes every token of the grant, JWT access tokens included', async () => {
    const { grantId, refreshToken: rt0 } = await issueGrant();
    const first = await refresh(rt0);
    expect(first.status).to.equal(200);
    const rt1 = first.json.refresh_token as string;
    const at1 = first.json.access_token as string;
    expect((await introspect(t.url, rs, at1)).json.active).to.equal(true);

    const replay = await refresh(rt0);
    expect(replay.status).to.equal(400);
    expect(replay.json.error).to.equal('invalid_grant');

    const next = await refresh(rt1);
    expect(next.status).to.equal(400);
    expect(next.json.error).to.equal('invalid_grant');
    expect((await introspect(t.url, rs, rt1)).json).to.deep.equal({ active: false });
    expect((await introspect(t.url, rs, at1)).json).to.deep.equal({ active: false });

    const row = await t.service.db('revoked_grants').where({ grant_id: grantId }).first();
    expect(row).to.include({ client_id: web.client_id, account_id: userId, reason: 'reuse_detected', tenant_id: tenantId });
    const events = await t.service.db('outbox_events').where({ type: 'com.infranotes.iam.token.revoked', key: grantId });
    expect(events).to.have.length(1);
    expect(events[0].data).to.include({ grant_id: grantId, token_type: 'refresh_token', reason: 'reuse_detected', revokes: 'grant' });
    expect(events[0].tenant_id).to.equal(tenantId);
    const audit = await t.service.db('audit_events').where({ action: 'token.revoked', target_id: grantId });
    expect(audit).to.have.length(1);
  });

  it('parallel refreshes with one token: at most one succeeds and the grant is revoked (no grace window)', async () => {
    const { grantId, refreshToken } = await issueGrant();
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(refreshToken)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).to.be.at.most(1);
    for (const r of results) expect(r.status).to.be.oneOf([200, 400]);
    for (const r of results.filter((x) => x.status === 400)) expect(r.json.error).to.equal('invalid_grant');
    for (const r of ok) {
      expect((await refresh(r.json.refresh_token as string)).status).to.equal(400);
      expect((await introspect(t.url, rs, r.json.access_token as string)).json).to.deep.equal({ active: false });
    }
    expect(await t.service.db('revoked_grants').where({ grant_id: grantId }).first()).to.not.equal(undefined);
    expect(await t.service.db('outbox_events').where({ key: grantId })).to.have.length(1);
  });

  it('revoking a refresh token at the revocation endpoint revokes its grant', async () => {
    const { grantId, refreshToken } = await issueGrant();
    const first = await refresh(refreshToken);
    const at = first.json.access_token as string;
    await oidc.tokenRevocation(rp, first.json.refresh_token as string, { token_type_hint: 'refresh_token' });
    expect((await introspect(t.url, rs, at)).json).to.deep.equal({ active: false });
    const row = await t.service.db('revoked_grants').where({ grant_id: grantId }).first();
    expect(row.reason).to.equal('revoked_by_client');
  });

  it('the absolute lifetime caps a refresh chain however often it rotates; idle TTL otherwise', async () => {
    const { absolute, idle } = {
      absolute: t.service.config.oidc.refresh_token_absolute_ttl_s,
      idle: t.service.config.oidc.refresh_token_idle_ttl_s,
    };
    const nearlyOver = await issueGrant({ iiatAgoS: absolute - 120 });
    const r = await refresh(nearlyOver.refreshToken);
    expect(r.status).to.equal(200);
    const provider = t.service.oidc.provider() as unknown as { RefreshToken: { find(v: string): Promise<{ exp: number; iiat: number }> } };
    const rotated = await provider.RefreshToken.find(r.json.refresh_token as string);
    const left = rotated.exp - Math.floor(Date.now() / 1000);
    expect(left).to.be.within(100, 121);
    const fresh = await issueGrant();
    const f = await refresh(fresh.refreshToken);
    const rotatedFresh = await provider.RefreshToken.find(f.json.refresh_token as string);
    expect(rotatedFresh.exp - Math.floor(Date.now() / 1000)).to.be.within(idle - 5, idle);

    const ttl = refreshTokenTtl({ refresh_token_idle_ttl_s: 100, refresh_token_absolute_ttl_s: 1000 });
    const now = Math.floor(Date.now() / 1000);
    expect(ttl(undefined, { iiat: now })).to.equal(100);
    expect(ttl(undefined, { iiat: now - 950 })).to.be.within(49, 50);
    expect(ttl(undefined, { iiat: now - 5000 })).to.equal(1);
  });

  it('a disabled user can no longer refresh', async () => {
    const [{ id: other }] = await t.service.db('users').insert({ email: 'bob@example.test' }).returning('id');
    const saved = userId;
    userId = other;
    const { refreshToken } = await issueGrant();
    userId = saved;
    await t.service.db('users').where({ id: other }).update({ status: 'disabled', disabled_at: new Date() });
    const r = await refresh(refreshToken);
    expect(r.status).to.equal(400);
    expect(r.json.error).to.equal('invalid_grant');
  });
});
