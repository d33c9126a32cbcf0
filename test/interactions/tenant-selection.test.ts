import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { instantiateSystemRoles } from '../../src/tenancy/roles.ts';
import { type AuthorizationRequest, RelyingParty } from '../browser/support.ts';
import { expectContract, makeClient, ORDERS_API, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import {
  actionOf,
  callbackOf,
  createUser,
  csrfOf,
  type HttpResponse,
  passwordSignIn,
  type TestUser,
  UserAgent,
  webClient,
} from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const SCOPE = 'openid email offline_access orders.read';
/** OpenID Connect grants offline_access (a refresh token) only with prompt=consent. */
const OFFLINE = { scope: SCOPE, prompt: 'consent' };

interface Tenant {
  id: string;
  slug: string;
  name: string;
}

/**
 * Tenant selection at sign-in (issue 5): the tenant of a grant and the `tid` of its tokens. A
 * platform client gets the user's only tenant, the one picked on the tenant page, or the one
 * named by `tenant=`; a tenant client needs a membership of its tenant (or a join by verified
 * domain). Driven over HTTP, tokens redeemed and refreshed with openid-client.
 */
describe('interactions: tenant selection', function () {
  this.timeout(180_000);
  let t: TestService;
  let platform: TestClient;
  let rp: RelyingParty;

  before(async () => {
    t = await startOidcService();
    platform = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
    rp = await RelyingParty.discover(t.service.config.issuer, platform, CALLBACK);
  });
  after(async () => {
    await t?.stop();
  });

  async function tenant(opts: { name?: string; settings?: object; roles?: boolean } = {}): Promise<Tenant> {
    const slug = `ts-${randomBytes(4).toString('hex')}`;
    const db = t.service.db;
    const [row] = await db('tenants')
      .insert({ slug, name: opts.name ?? `Tenant ${slug}`, settings: JSON.stringify(opts.settings ?? {}) })
      .returning(['id', 'slug', 'name']);
    if (opts.roles) await db.transaction((trx) => instantiateSystemRoles(trx, row.id));
    return row as Tenant;
  }

  async function member(of: Tenant, user: TestUser, status: 'active' | 'suspended' = 'active'): Promise<void> {
    const db = t.service.db;
    await db('memberships').insert({ tenant_id: of.id, user_id: user.id, status, joined_at: db.fn.now() });
  }

  /** Signs in with the password and follows our pages: the tenant page, or the redirect to the client. */
  async function signIn(ua: UserAgent, request: AuthorizationRequest, user: TestUser): Promise<HttpResponse> {
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    expect(response.status).to.equal(303);
    return ua.follow(response);
  }

  const onTenantPage = (r: HttpResponse) => !r.location && new URL(r.url).pathname.endsWith('/tenant');

  async function redeem(res: HttpResponse, ua: UserAgent, request: AuthorizationRequest) {
    const callback = await callbackOf(ua, res);
    expect(callback.searchParams.get('error'), callback.toString()).to.equal(null);
    return rp.finish(callback.toString(), request);
  }

  const tidOf = (jwt: string | undefined) => decodeJwt(jwt as string).tid;

  it('a user of one tenant gets it without being asked: tid in the access and ID tokens, kept on refresh', async () => {
    const acme = await tenant();
    const user = await createUser(t);
    await member(acme, user);
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest(OFFLINE);
    const tokens = await redeem(await signIn(ua, request, user), ua, request);
    expect(expectContract('accessToken', tokens.access_token).payload.tid).to.equal(acme.id);
    expect(expectContract('idToken', tokens.id_token as string).payload.tid).to.equal(acme.id);
    const grantId = decodeJwt(tokens.access_token).grant_id as string;
    expect(await t.service.db('grant_tenants').where({ grant_id: grantId }).first('tenant_id', 'account_id')).to.deep.equal({
      tenant_id: acme.id,
      account_id: user.id,
    });

    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token as string);
    expect(tidOf(refreshed.access_token)).to.equal(acme.id);
    expect(tidOf(refreshed.id_token)).to.equal(acme.id);
    const again = await oidc.refreshTokenGrant(rp.config, refreshed.refresh_token as string);
    expect(tidOf(again.access_token)).to.equal(acme.id);
  });

  it('a user without a tenant gets no tid and no grant tenant row', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest({ scope: SCOPE });
    const tokens = await redeem(await signIn(ua, request, user), ua, request);
    expect(decodeJwt(tokens.access_token)).to.not.have.property('tid');
    expect(decodeJwt(tokens.id_token as string)).to.not.have.property('tid');
    expect(await t.service.db('grant_tenants').where({ account_id: user.id }).first()).to.equal(undefined);
  });

  it('a user of two tenants picks one; tenant= switches (prompt=none), the old grant keeps its tid', async () => {
    const acme = await tenant({ name: 'Acme' });
    const globex = await tenant({ name: 'Globex' });
    const user = await createUser(t);
    await member(acme, user);
    await member(globex, user);
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest(OFFLINE);
    const picker = await signIn(ua, request, user);
    expect(onTenantPage(picker), picker.url).to.equal(true);
    expect(picker.text).to.include('Choose a tenant');
    expect(picker.text).to.include('Acme').and.include('Globex');
    expect(picker.headers.get('content-security-policy')).to.include("frame-ancestors 'none'");
    expect(picker.headers.get('cache-control')).to.include('no-store');

    const chosen = await ua.post(actionOf(picker.text, '/tenant'), { csrf: csrfOf(picker.text), tenant: globex.id });
    expect(chosen.status).to.equal(303);
    const first = await redeem(chosen, ua, request);
    expect(tidOf(first.access_token)).to.equal(globex.id);
    expect(tidOf(first.id_token)).to.equal(globex.id);

    // Later: the same session, silently, for the other tenant (by slug).
    const switchTo = await rp.authorizationRequest({ scope: SCOPE, tenant: acme.slug, prompt: 'none' });
    const switched = await redeem(await ua.get(switchTo.url), ua, switchTo);
    expect(tidOf(switched.access_token)).to.equal(acme.id);
    expect(decodeJwt(switched.access_token).grant_id).to.not.equal(decodeJwt(first.access_token).grant_id);

    // No tenant named: the last choice stays (no picker, so prompt=none works).
    const silent = await rp.authorizationRequest({ scope: SCOPE, prompt: 'none' });
    const kept = await redeem(await ua.get(silent.url), ua, silent);
    expect(tidOf(kept.access_token)).to.equal(acme.id);

    // The first grant's refresh token still acts in the tenant it was issued for.
    const refreshed = await oidc.refreshTokenGrant(rp.config, first.refresh_token as string);
    expect(tidOf(refreshed.access_token)).to.equal(globex.id);
  });

  it('the picker refuses a tenant the user is not a member of (tampered form): 400, no code', async () => {
    const acme = await tenant({ name: 'Acme' });
    const globex = await tenant({ name: 'Globex' });
    const foreign = await tenant({ name: 'Foreign' });
    const user = await createUser(t);
    await member(acme, user);
    await member(globex, user);
    await member(foreign, await createUser(t));
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest({ scope: SCOPE });
    const picker = await signIn(ua, request, user);
    expect(picker.text).to.not.include('Foreign');
    const action = actionOf(picker.text, '/tenant');
    for (const forged of [foreign.id, 'not-a-uuid', '']) {
      const refused = await ua.post(action, { csrf: csrfOf(picker.text), tenant: forged });
      expect(refused.status, forged).to.equal(400);
      expect(refused.text).to.include('Choose one of your tenants');
      expect(refused.location).to.equal(null);
    }
    // Without a CSRF token nothing is considered at all.
    expect((await ua.post(action, { tenant: acme.id })).status).to.equal(403);
    expect(await t.service.db('grant_tenants').where({ account_id: user.id }).first()).to.equal(undefined);
    // The interaction is still usable with a real choice.
    const ok = await ua.post(action, { csrf: csrfOf(picker.text), tenant: acme.id });
    expect(tidOf((await redeem(ok, ua, request)).access_token)).to.equal(acme.id);
  });

  it('prompt=none with several tenants and nothing named: interaction_required', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest({ scope: SCOPE });
    await redeem(await signIn(ua, request, user), ua, request);
    await member(await tenant(), user);
    await member(await tenant(), user);
    const silent = await rp.authorizationRequest({ scope: SCOPE, prompt: 'none' });
    const callback = await callbackOf(ua, await ua.get(silent.url));
    expect(callback.searchParams.get('error')).to.equal('interaction_required');
  });

  it('tenant= naming a tenant the user is not a member of: a page says so, the client gets access_denied', async () => {
    const acme = await tenant({ name: 'Acme' });
    const other = await tenant({ name: 'Other Corp' });
    const user = await createUser(t);
    await member(acme, user);
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest({ scope: SCOPE, tenant: other.slug });
    const page = await signIn(ua, request, user);
    expect(onTenantPage(page)).to.equal(true);
    expect(page.status).to.equal(403);
    expect(page.text).to.include('You don’t have access to this tenant');
    // Nothing about the tenant itself: the same page as for one that does not exist.
    expect(page.text).to.not.include('Other Corp');
    const back = await ua.post(actionOf(page.text, '/tenant'), { csrf: csrfOf(page.text), decision: 'leave' });
    const callback = await callbackOf(ua, back);
    expect(callback.searchParams.get('error')).to.equal('access_denied');
    expect(callback.searchParams.get('code')).to.equal(null);

    // A tenant that does not exist: the same page.
    const missing = await rp.authorizationRequest({ scope: SCOPE, tenant: 'no-such-tenant-anywhere' });
    const same = await ua.follow(await ua.get(missing.url));
    expect(same.status).to.equal(403);
    expect(same.text).to.include('You don’t have access to this tenant');

    // Silently: access_denied straight away.
    const silent = await rp.authorizationRequest({ scope: SCOPE, tenant: other.id, prompt: 'none' });
    const denied = await callbackOf(ua, await ua.get(silent.url));
    expect(denied.searchParams.get('error')).to.equal('access_denied');
  });

  it('a malformed tenant parameter is invalid_request', async () => {
    const request = await rp.authorizationRequest({ scope: SCOPE, tenant: 'Not A Slug!' });
    const ua = new UserAgent(t.url);
    const res = await ua.get(request.url);
    const callback = await callbackOf(ua, res);
    expect(callback.searchParams.get('error')).to.equal('invalid_request');
  });

  it('a suspended membership cannot be selected: not on the picker, refused by tenant=, and its grant stops refreshing', async () => {
    const acme = await tenant({ name: 'Acme' });
    const globex = await tenant({ name: 'Globex' });
    const user = await createUser(t);
    await member(acme, user);
    await member(globex, user, 'suspended');
    const ua = new UserAgent(t.url);
    // Only one selectable tenant: it is used without a picker.
    const request = await rp.authorizationRequest(OFFLINE);
    const tokens = await redeem(await signIn(ua, request, user), ua, request);
    expect(tidOf(tokens.access_token)).to.equal(acme.id);

    const named = await rp.authorizationRequest({ scope: SCOPE, tenant: globex.id });
    const page = await ua.follow(await ua.get(named.url));
    expect(page.status).to.equal(403);
    expect(page.text).to.include('Your membership of Globex is suspended');

    // Suspending the membership of the grant's tenant ends its refresh.
    await t.service.db('memberships').where({ tenant_id: acme.id, user_id: user.id }).update({ status: 'suspended' });
    const err = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token as string).then(
      () => undefined,
      (e: unknown) => e as { error?: string },
    );
    expect(err?.error).to.equal('invalid_grant');
  });

  it('a suspended tenant cannot be selected', async () => {
    const acme = await tenant({ name: 'Acme' });
    const user = await createUser(t);
    await member(acme, user);
    await t.service.db('tenants').where({ id: acme.id }).update({ status: 'suspended', suspended_at: t.service.db.fn.now() });
    const ua = new UserAgent(t.url);
    const request = await rp.authorizationRequest({ scope: SCOPE, tenant: acme.slug });
    const page = await signIn(ua, request, user);
    expect(page.status).to.equal(403);
    expect(page.text).to.include('Acme is suspended');
    // Without naming it: no selectable tenant, so no tid.
    const plain = await rp.authorizationRequest({ scope: SCOPE });
    const tokens = await redeem(await ua.follow(await ua.get(plain.url)), ua, plain);
    expect(decodeJwt(tokens.access_token)).to.not.have.property('tid');
  });

  it('a third-party client: the picker comes before consent, and another tenant needs its own consent', async () => {
    const acme = await tenant({ name: 'Acme' });
    const globex = await tenant({ name: 'Globex' });
    const user = await createUser(t);
    await member(acme, user);
    await member(globex, user);
    const partner = await webClient(t, { firstParty: false, redirectUris: [CALLBACK] });
    const partnerRp = await RelyingParty.discover(t.service.config.issuer, partner, CALLBACK);
    const ua = new UserAgent(t.url);
    const request = await partnerRp.authorizationRequest({ scope: SCOPE });
    const picker = await signIn(ua, request, user);
    expect(onTenantPage(picker)).to.equal(true);
    const consent = await ua.follow(await ua.post(actionOf(picker.text, '/tenant'), { csrf: csrfOf(picker.text), tenant: acme.id }));
    expect(consent.url).to.match(/\/consent$/);
    const allowed = await ua.post(actionOf(consent.text, '/consent'), { csrf: csrfOf(consent.text), decision: 'allow' });
    const first = await partnerRp.finish((await callbackOf(ua, allowed)).toString(), request);
    expect(tidOf(first.access_token)).to.equal(acme.id);

    // The consent given while in Acme does not carry over to Globex.
    const other = await partnerRp.authorizationRequest({ scope: SCOPE, tenant: globex.id });
    const again = await ua.follow(await ua.get(other.url));
    expect(again.url).to.match(/\/consent$/);
    const allowedAgain = await ua.post(actionOf(again.text, '/consent'), { csrf: csrfOf(again.text), decision: 'allow' });
    const second = await partnerRp.finish((await callbackOf(ua, allowedAgain)).toString(), other);
    expect(tidOf(second.access_token)).to.equal(globex.id);
    // Back in Acme: its grant still holds the consent.
    const back = await partnerRp.authorizationRequest({ scope: SCOPE, tenant: acme.id, prompt: 'none' });
    const third = await partnerRp.finish((await callbackOf(ua, await ua.get(back.url))).toString(), back);
    expect(tidOf(third.access_token)).to.equal(acme.id);
  });

  describe('tenant clients', () => {
    async function tenantClient(of: Tenant): Promise<{ client: TestClient; rp: RelyingParty }> {
      const client = await makeClient(t, {
        name: `App of ${of.name}`,
        tenant_id: of.id,
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [CALLBACK],
        allowed_resources: [ORDERS_API],
        allowed_scopes: ['openid', 'email', 'offline_access', 'orders.read'],
        first_party: true,
      });
      return { client, rp: await RelyingParty.discover(t.service.config.issuer, client, CALLBACK) };
    }

    it('a member signs in with tid = the client tenant; tenant= cannot move it elsewhere', async () => {
      const acme = await tenant();
      const other = await tenant();
      const user = await createUser(t);
      await member(acme, user);
      await member(other, user);
      const app = await tenantClient(acme);
      const ua = new UserAgent(t.url);
      const request = await app.rp.authorizationRequest({ scope: SCOPE, tenant: other.id });
      const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
      const tokens = await app.rp.finish((await callbackOf(ua, response)).toString(), request);
      expect(tidOf(tokens.access_token)).to.equal(acme.id);
      expect(tidOf(tokens.id_token)).to.equal(acme.id);
    });

    it('a member suspended or removed after signing in can no longer refresh (invalid_grant)', async () => {
      const acme = await tenant();
      const user = await createUser(t);
      await member(acme, user);
      const app = await tenantClient(acme);
      const ua = new UserAgent(t.url);
      const request = await app.rp.authorizationRequest(OFFLINE);
      const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
      const tokens = await app.rp.finish((await callbackOf(ua, response)).toString(), request);
      const refreshed = await oidc.refreshTokenGrant(app.rp.config, tokens.refresh_token as string);
      expect(tidOf(refreshed.access_token)).to.equal(acme.id);

      await t.service.db('memberships').where({ tenant_id: acme.id, user_id: user.id }).update({ status: 'suspended' });
      const err = await oidc.refreshTokenGrant(app.rp.config, refreshed.refresh_token as string).then(
        () => undefined,
        (e: unknown) => e as { error?: string },
      );
      expect(err?.error).to.equal('invalid_grant');
    });

    it('a non-member is refused with a page, then access_denied; a suspended member likewise', async () => {
      const acme = await tenant({ name: 'Acme' });
      const app = await tenantClient(acme);
      const stranger = await createUser(t);
      const ua = new UserAgent(t.url);
      const request = await app.rp.authorizationRequest({ scope: SCOPE });
      const page = await signIn(ua, request, stranger);
      expect(onTenantPage(page)).to.equal(true);
      expect(page.status).to.equal(403);
      expect(page.text).to.include('You don’t have access to this tenant');
      // "join" is not on offer: posting it changes nothing.
      const forged = await ua.post(actionOf(page.text, '/tenant'), { csrf: csrfOf(page.text), decision: 'join' });
      expect(forged.status).to.equal(403);
      expect(await t.service.db('memberships').where({ tenant_id: acme.id, user_id: stranger.id }).first()).to.equal(undefined);
      const back = await ua.post(actionOf(page.text, '/tenant'), { csrf: csrfOf(page.text), decision: 'leave' });
      expect((await callbackOf(ua, back)).searchParams.get('error')).to.equal('access_denied');

      const suspended = await createUser(t);
      await member(acme, suspended, 'suspended');
      const ua2 = new UserAgent(t.url);
      const again = await signIn(ua2, await app.rp.authorizationRequest({ scope: SCOPE }), suspended);
      expect(again.status).to.equal(403);
      expect(again.text).to.include('Your membership of Acme is suspended');
    });

    it('a verified email domain joins the tenant when it allows that: membership, member role, tid', async () => {
      const domain = `join-${randomBytes(3).toString('hex')}.example.test`;
      const acme = await tenant({ name: 'Acme', settings: { joinByVerifiedDomain: true }, roles: true });
      await t.service.db('tenant_domains').insert({ tenant_id: acme.id, domain, verified_at: t.service.db.fn.now() });
      const app = await tenantClient(acme);
      const user = await createUser(t, { email: `ada-${randomBytes(3).toString('hex')}@${domain}` });
      const ua = new UserAgent(t.url);
      const request = await app.rp.authorizationRequest({ scope: SCOPE });
      const page = await signIn(ua, request, user);
      expect(page.status).to.equal(200);
      expect(page.text).to.include('Join Acme');
      const joined = await ua.post(actionOf(page.text, '/tenant'), { csrf: csrfOf(page.text), decision: 'join' });
      const tokens = await app.rp.finish((await callbackOf(ua, joined)).toString(), request);
      expect(tidOf(tokens.access_token)).to.equal(acme.id);
      expect(await t.service.db('memberships').where({ tenant_id: acme.id, user_id: user.id }).first('status')).to.deep.equal({
        status: 'active',
      });
      const roles = await t.service
        .db('scope_bindings as b')
        .join('roles as r', 'r.id', 'b.role_id')
        .where({ 'b.tenant_id': acme.id, 'b.principal_id': user.id })
        .pluck('r.key');
      expect(roles).to.deep.equal(['member']);
      const audit = await t.service
        .db('audit_events')
        .where({ tenant_id: acme.id, action: 'membership.added', target_id: user.id })
        .first('details');
      expect(audit?.details).to.include({ via: 'verified_domain' });

      // An address at another domain is refused.
      const outsider = await createUser(t);
      const ua2 = new UserAgent(t.url);
      const refused = await signIn(ua2, await app.rp.authorizationRequest({ scope: SCOPE }), outsider);
      expect(refused.status).to.equal(403);
    });
  });
});
