import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { generateRecoveryCodes } from '../../src/mfa/index.ts';
import { basic, form, makeClient, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import {
  ACR_MFA,
  ACR_PWD,
  actionOf,
  auditActions,
  authorizeUrl,
  callbackOf,
  createUser,
  csrfOf,
  enrolConfirmedTotp,
  KEK,
  passwordSignIn,
  type TestUser,
  UserAgent,
  webClient,
} from './support.ts';

const CALLBACK = 'https://app.example.test/cb';

/** The sign-in flow over HTTP: single use of codes and second factors, re-authentication rules. */
describe('interactions: sign-in flow', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService();
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  async function redeem(code: string, verifier: string) {
    return form(
      `${t.url}/token`,
      { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK },
      { authorization: basic(client) },
    );
  }

  /** Password sign-in of `user` in `ua`; returns the callback URL and the PKCE verifier. */
  async function signIn(ua: UserAgent, user: TestUser, extra: Record<string, string> = {}) {
    const request = authorizeUrl(t, client, CALLBACK, extra);
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    expect(response.status, response.text.slice(0, 300)).to.equal(303);
    return { ...request, response };
  }

  it('20 parallel redemptions of one authorization code from a real sign-in: exactly one token response', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const { response, verifier, state } = await signIn(ua, user);
    const callback = await callbackOf(ua, response);
    expect(callback.searchParams.get('state')).to.equal(state);
    const code = callback.searchParams.get('code') as string;

    const results = await Promise.all(Array.from({ length: 20 }, () => redeem(code, verifier)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok, results.map((r) => `${r.status} ${r.json.error ?? ''}`).join(', ')).to.have.length(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.json.error).to.equal('invalid_grant');
    const idToken = decodeJwt(ok[0]?.json.id_token as string);
    expect(idToken).to.include({ sub: user.id, acr: ACR_PWD });
    expect(idToken.amr).to.deep.equal(['pwd']);
  });

  it('a first-party client never shows consent, not even for prompt=consent', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const first = await signIn(ua, user, { prompt: 'consent' });
    const callback = await callbackOf(ua, first.response);
    expect(callback.searchParams.get('code')).to.be.a('string');
    const again = authorizeUrl(t, client, CALLBACK, { prompt: 'consent', scope: 'openid email profile' });
    const res = await ua.follow(await ua.get(again.url));
    expect(res.location ?? '').to.match(/^https:\/\/app\.example\.test\/cb\?code=/);
  });

  it('a TOTP code is accepted once: replaying it in a second sign-in fails like a wrong code', async () => {
    const user = await createUser(t);
    const totp = await enrolConfirmedTotp(t, user);
    const code = totp.code();

    const first = new UserAgent(t.url);
    const a = await signIn(first, user);
    const totpPage = await first.follow(a.response);
    expect(totpPage.url).to.match(/\/totp$/);
    const accepted = await first.post(actionOf(totpPage.text, '/totp'), { csrf: csrfOf(totpPage.text), code });
    expect(accepted.status).to.equal(303);
    const callback = await callbackOf(first, accepted);
    const tokens = await redeem(callback.searchParams.get('code') as string, a.verifier);
    expect(decodeJwt(tokens.json.id_token as string)).to.include({ acr: ACR_MFA });

    const second = new UserAgent(t.url);
    const b = await signIn(second, user);
    const page = await second.follow(b.response);
    const replay = await second.post(actionOf(page.text, '/totp'), { csrf: csrfOf(page.text), code });
    expect(replay.status).to.equal(400);
    expect(replay.location).to.equal(null);
    expect(replay.text).to.include('The code is not correct or has already been used');
    const failures = await auditActions(t, 'auth.totp.verified', user.id);
    expect(failures.at(-1)).to.deep.include({ outcome: 'failure' });
    expect(failures.at(-1)?.details).to.include({ reason: 'replay' });
  });

  it('a recovery code signs in once; used again it is refused', async () => {
    const user = await createUser(t);
    await enrolConfirmedTotp(t, user);
    const { codes } = await generateRecoveryCodes(t.service.db, KEK, user.id);
    const code = codes[0] as string;
    const use = async () => {
      const ua = new UserAgent(t.url);
      const { response } = await signIn(ua, user);
      const totpPage = await ua.follow(response);
      const recoveryPage = await ua.get(totpPage.url.replace(/\/totp$/, '/recovery-code'));
      expect(recoveryPage.status).to.equal(200);
      return { ua, res: await ua.post(actionOf(recoveryPage.text, '/recovery-code'), { csrf: csrfOf(recoveryPage.text), code }) };
    };
    const first = await use();
    expect(first.res.status).to.equal(303);
    expect((await callbackOf(first.ua, first.res)).searchParams.get('code')).to.be.a('string');
    const again = await use();
    expect(again.res.status).to.equal(400);
    expect(again.res.text).to.include('The recovery code is not correct or has already been used');
  });

  it('a page reached out of order sends the browser to the step that is due, and the second factor cannot be skipped', async () => {
    const user = await createUser(t);
    await enrolConfirmedTotp(t, user);
    const ua = new UserAgent(t.url);
    const start = await ua.get(authorizeUrl(t, client, CALLBACK).url);
    const base = new URL(start.location as string, t.url).pathname;
    const early = await ua.get(`${base}/totp`);
    expect(early.status).to.equal(303);
    expect(early.location).to.equal(`${base}/identifier`);

    const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, user.password);
    const totpUrl = response.location as string;
    expect(totpUrl).to.match(/\/totp$/);
    // The resume URL does not complete a half-finished sign-in: the engine has no login result yet.
    const uid = /\/interaction\/([^/]+)\/totp$/.exec(totpUrl)?.[1];
    const resume = await ua.get(`/authorize/${uid}`);
    expect(resume.status).to.equal(303);
    expect(resume.location ?? '').not.to.include('code=');
    expect(resume.location ?? '').to.match(/^\/interaction\//);
  });

  it('prompt=login and max_age force a new password sign-in even with a session', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const first = await signIn(ua, user);
    const firstCode = (await callbackOf(ua, first.response)).searchParams.get('code') as string;
    const authTime = decodeJwt((await redeem(firstCode, first.verifier)).json.id_token as string).auth_time as number;

    // With the session alone, no page at all.
    const silent = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    expect(silent.location ?? '').to.match(/^https:\/\/app\.example\.test\/cb\?code=/);

    for (const extra of [{ prompt: 'login' }, { max_age: '0' }] as Record<string, string>[]) {
      // max_age=0 is met only by an authentication later than the current second.
      while (Math.floor(Date.now() / 1000) <= authTime) await new Promise((r) => setTimeout(r, 50));
      const request = authorizeUrl(t, client, CALLBACK, extra);
      const page = await ua.follow(await ua.get(request.url));
      expect(page.url, JSON.stringify(extra)).to.match(/\/identifier$/);
      const id = await ua.post(actionOf(page.text, '/identifier'), { csrf: csrfOf(page.text), email: user.email });
      const pw = await ua.follow(id);
      const done = await ua.post(actionOf(pw.text, '/password'), { csrf: csrfOf(pw.text), password: user.password });
      const code = (await callbackOf(ua, done)).searchParams.get('code') as string;
      const idToken = decodeJwt((await redeem(code, request.verifier)).json.id_token as string);
      expect(idToken.auth_time as number, JSON.stringify(extra)).to.be.greaterThan(authTime);
    }
  });

  it('a disabled user’s session no longer signs anything in; their password is refused like a wrong one', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    await callbackOf(ua, (await signIn(ua, user)).response);
    await t.service.db('users').where({ id: user.id }).update({ status: 'disabled', disabled_at: t.service.db.fn.now() });

    const again = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    expect(again.status).to.equal(200);
    expect(again.url).to.match(/\/identifier$/);
    const id = await ua.post(actionOf(again.text, '/identifier'), { csrf: csrfOf(again.text), email: user.email });
    const pw = await ua.follow(id);
    const refused = await ua.post(actionOf(pw.text, '/password'), { csrf: csrfOf(pw.text), password: user.password });
    expect(refused.status).to.equal(400);
    expect(refused.text).to.include('The email address or password is not correct');
  });

  it('a tenant requiring MFA sends a user without a second factor to the “unmet” page; cancelling tells the client', async () => {
    const [tenant] = await t.service
      .db('tenants')
      .insert({ slug: `mfa-${Date.now()}`, name: 'MFA required', settings: JSON.stringify({ mfa: { policy: 'required' } }) })
      .returning('id');
    const strict = await makeClient(t, {
      name: 'Strict tenant app',
      tenant_id: tenant.id,
      grant_types: ['authorization_code'],
      redirect_uris: [CALLBACK],
      allowed_scopes: ['openid', 'email'],
      first_party: true,
    });
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const request = authorizeUrl(t, strict, CALLBACK);
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    const unmet = await ua.follow(response);
    expect(unmet.url).to.match(/\/unmet$/);
    expect(unmet.text).to.include('Two-step verification is required');
    const back = await ua.post(actionOf(unmet.text, '/abort'), { csrf: csrfOf(unmet.text) });
    const callback = await callbackOf(ua, back);
    expect(callback.searchParams.get('error')).to.equal('unmet_authentication_requirements');
  });
});
