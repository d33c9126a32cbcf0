import { expect } from 'chai';
import { isSafeRelativePath } from '../../interactions/redirect.ts';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import {
  actionOf,
  auditActions,
  authorizeUrl,
  callbackOf,
  createUser,
  csrfOf,
  type HttpResponse,
  type TestUser,
  UserAgent,
  webClient,
} from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const EVIL = 'https://evil.example/steal';

/** Every redirect the interaction routes answer must stay on our origin (or be the client's registered URI). */
function expectNoForeignRedirect(res: HttpResponse, t: TestService, label: string) {
  if (res.location === null) return;
  const target = new URL(res.location, res.url);
  expect(res.status, label).to.equal(303);
  expect(res.location, label).not.to.include('evil');
  expect([new URL(t.url).origin, new URL(CALLBACK).origin], `${label}: ${res.location}`).to.include(target.origin);
}

describe('interactions: CSRF protection and redirects', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;
  let user: TestUser;

  before(async () => {
    t = await startOidcService();
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK], postLogoutRedirectUris: ['https://app.example.test/bye'] });
    user = await createUser(t);
  });
  after(async () => {
    await t?.stop();
  });

  /** A fresh interaction at the password page of `user`. */
  async function atPasswordPage(ua: UserAgent) {
    const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    const next = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email: user.email }));
    expect(next.url).to.match(/\/password$/);
    return { page: next, action: actionOf(next.text, '/password'), csrf: csrfOf(next.text) };
  }

  it('a form without the token, with a wrong one or with another interaction’s is refused with 403 and signs nobody in', async () => {
    const ua = new UserAgent(t.url);
    const { action, csrf } = await atPasswordPage(ua);
    const other = await atPasswordPage(new UserAgent(t.url));
    const before = (await auditActions(t, 'auth.password.verified', user.id)).length;

    const attempts: [string, Record<string, string>, Record<string, string>][] = [
      ['missing token', { password: user.password }, {}],
      ['empty token', { csrf: '', password: user.password }, {}],
      ['wrong token', { csrf: `${csrf.slice(0, -2)}AA`, password: user.password }, {}],
      ['token of another interaction', { csrf: other.csrf, password: user.password }, {}],
      ['cross-site request (Sec-Fetch-Site)', { csrf, password: user.password }, { 'sec-fetch-site': 'cross-site' }],
      ['same-site but not same-origin', { csrf, password: user.password }, { 'sec-fetch-site': 'same-site' }],
      ['foreign Origin', { csrf, password: user.password }, { origin: 'https://evil.example' }],
    ];
    for (const [label, form, headers] of attempts) {
      const res = await ua.post(action, form, headers);
      expect(res.status, label).to.equal(403);
      expect(res.location, label).to.equal(null);
      expect(res.text, label).to.include('This form can’t be accepted');
      expect(res.headers.get('content-security-policy'), label).to.include("frame-ancestors 'none'");
    }
    // A JSON or multipart body carries no form token either.
    const json = await ua.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ csrf, password: user.password }),
    });
    expect(json.status).to.equal(403);
    // Every step's POST is protected, not only the password.
    for (const step of ['identifier', 'totp', 'recovery-code', 'consent', 'abort', 'switch-account']) {
      const res = await ua.post(action.replace(/\/password$/, `/${step}`), { email: user.email, code: '123456', decision: 'allow' });
      expect(res.status, step).to.equal(403);
    }
    expect((await auditActions(t, 'auth.password.verified', user.id)).length).to.equal(before);

    // The interaction was left untouched: with its token the same form signs in.
    const ok = await ua.post(action, { csrf, password: user.password });
    expect(ok.status).to.equal(303);
    const callback = await callbackOf(ua, ok);
    expect(`${callback.origin}${callback.pathname}`).to.equal(CALLBACK);
    expect(callback.searchParams.get('code')).to.be.a('string');
  });

  it('a form posted without the interaction cookie (another browser) gets the expired page, not a sign-in', async () => {
    const { action, csrf } = await atPasswordPage(new UserAgent(t.url));
    const stranger = new UserAgent(t.url);
    const res = await stranger.post(action, { csrf, password: user.password });
    expect(res.status).to.equal(404);
    expect(res.location).to.equal(null);
    expect(res.text).to.include('This sign-in request has expired');
  });

  it('return_to-style parameters are never followed, on any interaction route', async () => {
    const ua = new UserAgent(t.url);
    const start = await ua.get(authorizeUrl(t, client, CALLBACK).url);
    const base = new URL(start.location ?? '', t.url).pathname;
    const csrf = csrfOf((await ua.follow(start)).text);
    const bait = {
      return_to: EVIL,
      returnTo: EVIL,
      redirect: EVIL,
      redirect_uri: EVIL,
      redirect_url: EVIL,
      next: '//evil.example/x',
      continue: '/\\evil.example',
      url: EVIL,
      goto: 'javascript:alert(1)',
      post_logout_redirect_uri: EVIL,
    };
    const query = `?${new URLSearchParams(bait)}`;
    for (const step of ['', '/identifier', '/password', '/totp', '/recovery-code', '/unmet', '/no-method', '/consent']) {
      expectNoForeignRedirect(await ua.get(`${base}${step}${query}`), t, `GET ${step}`);
    }
    for (const step of ['/identifier', '/switch-account', '/identifier']) {
      expectNoForeignRedirect(await ua.post(`${base}${step}${query}`, { ...bait, csrf, email: user.email }), t, `POST ${step}`);
    }
    const pw = await ua.post(`${base}/password${query}`, { ...bait, csrf, password: user.password });
    expectNoForeignRedirect(pw, t, 'POST password');
    // The sign-in ends at the registered redirect URI, whatever the forms carried.
    const callback = await callbackOf(ua, pw);
    expect(`${callback.origin}${callback.pathname}`).to.equal(CALLBACK);

    // The engine's own redirect parameters refuse unregistered targets with a page, not a redirect.
    const logout = await ua.get(`/logout?client_id=${client.client_id}&post_logout_redirect_uri=${encodeURIComponent(EVIL)}`);
    expect(logout.status).to.equal(400);
    expect(logout.location).to.equal(null);
    const authorize = await ua.get(authorizeUrl(t, client, EVIL).url);
    expect(authorize.status).to.equal(400);
    expect(authorize.location).to.equal(null);
  });

  it('the relative-path check refuses everything a browser could read as another site', () => {
    for (const ok of ['/account', '/account/sessions?tab=1', '/interaction/abc/password', '/a%20b']) {
      expect(isSafeRelativePath(ok), ok).to.equal(true);
    }
    for (const bad of [
      EVIL,
      '//evil.example',
      '///evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      '/%2F%2Fevil.example',
      '/%2f/evil.example',
      '/%5Cevil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      ' /x',
      'javascript:alert(1)',
      'data:text/html,x',
      'account',
      '',
      '/..',
      '/a/../../b',
      '/%2e%2e/x',
      '/x%',
      `/${'a'.repeat(3000)}`,
      '/\u2215evil.example',
    ]) {
      expect(isSafeRelativePath(bad), JSON.stringify(bad)).to.equal(false);
    }
    expect(isSafeRelativePath('/account/x', { under: '/account' })).to.equal(true);
    expect(isSafeRelativePath('/accountx', { under: '/account' })).to.equal(false);
    expect(isSafeRelativePath('/interaction/x', { under: '/account' })).to.equal(false);
  });
});
