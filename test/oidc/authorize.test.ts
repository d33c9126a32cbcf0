import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { TestService } from '../support/service.ts';
import { basic, form, makeClient, ORDERS_API, startOidcService, type TestClient } from './support.ts';

const REDIRECT = 'https://app.example.test/cb';

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

function authorizeUrl(t: TestService, params: Record<string, string | undefined>): string {
  const u = new URL('/authorize', t.url);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

const get = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { redirect: 'manual', headers: { accept: 'text/html', ...headers } });

function expectErrorPageWithoutRedirect(res: Response, body: string) {
  expect(res.status, body).to.equal(400);
  expect(res.headers.get('location')).to.equal(null);
  expect(res.headers.get('content-type')).to.match(/^text\/html/);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).to.include("frame-ancestors 'none'");
  expect(csp).not.to.include('unsafe-inline');
  expect(body).not.to.match(/<script|https?:\/\/(?!app\.example\.test)[^"'<\s]*\.(js|css)/);
}

/** The authorization endpoint's way into sign-in, and every way a request to it must fail safely. */
describe('oidc: authorization endpoint', function () {
  this.timeout(60_000);
  let t: TestService;
  let web: TestClient;
  let base: Record<string, string>;

  before(async () => {
    t = await startOidcService();
    web = await makeClient(t, {
      name: 'web app',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT],
      allowed_resources: [ORDERS_API],
      allowed_scopes: ['openid', 'offline_access', 'orders.read'],
    });
    const { challenge } = pkce();
    base = {
      client_id: web.client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid',
      state: 'st-123',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
  });
  after(async () => {
    await t?.stop();
  });

  it('a valid request goes (303) to the sign-in pages, which carry the login-page headers', async () => {
    const res = await get(authorizeUrl(t, base), { origin: 'https://app.example.test' });
    expect(res.status).to.equal(303);
    // RFC 9700 §2.6: no CORS at the authorization endpoint.
    expect(res.headers.get('access-control-allow-origin')).to.equal(null);
    const location = res.headers.get('location') ?? '';
    expect(location).to.match(/^\/interaction\/[A-Za-z0-9_-]+$/);
    const cookies = res.headers.getSetCookie();
    const interaction = cookies.find((c) => c.startsWith('iam_interaction='));
    expect(interaction, cookies.join('\n'))
      .to.match(/path=\//i)
      .and.match(/httponly/i)
      .and.match(/samesite=lax/i);
    const cookie = cookies.map((c) => c.split(';')[0]).join('; ');

    const entry = await get(new URL(location, t.url).toString(), { cookie });
    expect(entry.status).to.equal(303);
    expect(entry.headers.get('location')).to.equal(`${location}/identifier`);

    const page = await get(new URL(`${location}/identifier`, t.url).toString(), { cookie });
    const html = await page.text();
    expect(page.status).to.equal(200);
    expect(html).to.include('<form method="post"');
    expect(html).to.match(/name="csrf" value="[A-Za-z0-9_-]{43}"/);
    expect(html).not.to.match(/<script/i);
    expect(html).not.to.match(/(src|href)=["']https?:/i);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("default-src 'none'");
    expect(csp).to.include("frame-ancestors 'none'");
    expect(csp).to.match(/style-src 'nonce-[A-Za-z0-9+/=]{22,}'/);
    expect(csp).to.include("form-action 'self' https://app.example.test");
    expect(csp).not.to.include('unsafe-inline');
    expect(page.headers.get('x-frame-options')).to.equal('DENY');
    expect(page.headers.get('referrer-policy')).to.equal('no-referrer');
    expect(page.headers.get('cache-control')).to.equal('no-store');
    expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
  });

  it('an unknown or expired interaction is a 404 page, not the engine’s development login', async () => {
    const res = await get(`${t.url}/interaction/unknown-uid`);
    expect(res.status).to.equal(404);
    expect(await res.text()).to.include('expired');
  });

  for (const [label, params] of [
    ['without code_challenge', { code_challenge: undefined, code_challenge_method: undefined }],
    ['with code_challenge_method=plain', { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }],
    ['with a code_challenge but no method (defaults to plain)', { code_challenge_method: undefined }],
  ] as const) {
    it(`PKCE is required for every client: a request ${label} is refused (error to the registered URI, with iss)`, async () => {
      const res = await get(authorizeUrl(t, { ...base, ...params }));
      expect(res.status).to.be.oneOf([302, 303]);
      const location = new URL(res.headers.get('location') ?? '');
      expect(`${location.origin}${location.pathname}`).to.equal(REDIRECT);
      expect(location.searchParams.get('error')).to.equal('invalid_request');
      expect(location.searchParams.get('code')).to.equal(null);
      expect(location.searchParams.get('state')).to.equal('st-123');
      // RFC 9207 in error responses too.
      expect(location.searchParams.get('iss')).to.equal(t.service.config.issuer);
    });
  }

  for (const uri of [
    `${REDIRECT}/`,
    'https://app.example.test/CB',
    'https://APP.example.test/cb',
    `${REDIRECT}/extra`,
    `${REDIRECT}?x=1`,
    `${REDIRECT}#frag`,
    'https://evil@app.example.test/cb',
    'https://app.example.test:8443/cb',
    'http://app.example.test/cb',
    'https://app.example.test/cb%2F',
    'https://app.example.test/x/../cb',
    'https://app.example.test.evil.example/cb',
    'https://evil.example/cb',
  ]) {
    it(`an unregistered or near-miss redirect_uri is refused without redirecting: ${uri}`, async () => {
      const res = await get(authorizeUrl(t, { ...base, redirect_uri: uri }));
      expectErrorPageWithoutRedirect(res, await res.text());
    });
  }

  it('redirect_uri is required even when the client has registered only one', async () => {
    const res = await get(authorizeUrl(t, { ...base, redirect_uri: undefined }));
    expectErrorPageWithoutRedirect(res, await res.text());
  });

  it('an unknown client gets an error page, never a redirect', async () => {
    const res = await get(authorizeUrl(t, { ...base, client_id: 'no-such-client' }));
    const html = await res.text();
    expectErrorPageWithoutRedirect(res, html);
    expect(html).to.include('invalid_client');
  });

  it('token-bearing response types and unknown ones are refused (no implicit or hybrid flow)', async () => {
    for (const responseType of ['token', 'id_token token', 'code id_token', 'id_token', 'none']) {
      const res = await get(authorizeUrl(t, { ...base, response_type: responseType, nonce: 'n-1' }));
      expect(res.status, responseType).to.be.oneOf([302, 303, 400]);
      const location = res.headers.get('location');
      if (location) {
        const u = new URL(location);
        expect(`${u.origin}${u.pathname}`).to.equal(REDIRECT);
        const params = new URLSearchParams(u.hash.slice(1) || u.search.slice(1));
        expect(params.get('error'), responseType).to.equal('unsupported_response_type');
        expect(params.get('access_token')).to.equal(null);
        expect(params.get('id_token')).to.equal(null);
      }
    }
    const pwd = await form(`${t.url}/token`, { grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic(web) });
    expect(pwd.status).to.equal(400);
    expect(pwd.json.error).to.equal('unsupported_grant_type');
  });

  it('RP-initiated logout: a hash-only CSP on the auto-submit page, redirects only to a registered post-logout URI', async () => {
    const app = await makeClient(t, {
      grant_types: ['authorization_code'],
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: ['https://app.example.test/bye'],
      allowed_scopes: ['openid'],
    });
    const unregistered = await get(
      `${t.url}/logout?client_id=${app.client_id}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
    );
    expectErrorPageWithoutRedirect(unregistered, await unregistered.text());

    const res = await get(
      `${t.url}/logout?client_id=${app.client_id}&post_logout_redirect_uri=${encodeURIComponent('https://app.example.test/bye')}&state=s1`,
    );
    expect(res.status).to.equal(200);
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).to.match(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).to.include("frame-ancestors 'none'");
    expect(csp).not.to.include('unsafe-inline');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    expect(xsrf).to.not.equal('');
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const confirm = await fetch(`${t.url}/logout/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    expect(confirm.status).to.equal(303);
    expect(confirm.headers.get('location')).to.equal('https://app.example.test/bye?state=s1');

    const done = await get(`${t.url}/logout/success`);
    expect(done.status).to.equal(200);
    expect(await done.text()).to.include('signed out');
    expect(done.headers.get('content-security-policy')).to.include("default-src 'none'");
  });

  it('PAR: a pushed request is used by reference; one without PKCE is refused', async () => {
    const pushed = await form(`${t.url}/par`, { ...base }, { authorization: basic(web) });
    expect(pushed.status).to.equal(201);
    const requestUri = pushed.json.request_uri as string;
    expect(requestUri).to.match(/^urn:ietf:params:oauth:request_uri:/);
    expect(pushed.json.expires_in).to.be.a('number');
    const res = await get(authorizeUrl(t, { client_id: web.client_id, request_uri: requestUri }));
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.match(/^\/interaction\//);

    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = base;
    const refused = await form(`${t.url}/par`, noPkce, { authorization: basic(web) });
    expect(refused.status).to.equal(400);
    expect(refused.json.error).to.equal('invalid_request');
    const wrongUri = await form(`${t.url}/par`, { ...base, redirect_uri: `${REDIRECT}/` }, { authorization: basic(web) });
    expect(wrongUri.status).to.equal(400);
  });
});

describe('oidc: issuer with a path, behind a TLS-terminating proxy', function () {
  this.timeout(60_000);
  let t: TestService;
  const issuer = 'https://id.example.test/oidc';
  const proxied = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'id.example.test' };

  before(async () => {
    t = await startOidcService({ IAM_ISSUER: issuer });
  });
  after(async () => {
    await t?.stop();
  });

  it('serves discovery under the issuer path (and RFC 8414’s location) with https endpoint URLs', async () => {
    for (const path of ['/oidc/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/oidc']) {
      const res = await fetch(`${t.url}${path}`, { headers: proxied });
      expect(res.status, path).to.equal(200);
      const doc = (await res.json()) as Record<string, string>;
      expect(doc.issuer).to.equal(issuer);
      expect(doc.token_endpoint).to.equal(`${issuer}/token`);
      expect(doc.authorization_endpoint).to.equal(`${issuer}/authorize`);
      expect(doc.jwks_uri).to.equal(`${issuer}/.well-known/jwks.json`);
    }
    // The root location belongs to a root issuer only.
    expect((await fetch(`${t.url}/.well-known/openid-configuration`, { headers: proxied })).status).to.equal(404);
  });

  it('the JWKS under the issuer path is the key store’s (pending and retired keys included)', async () => {
    const res = await fetch(`${t.url}/oidc/.well-known/jwks.json`, { headers: proxied });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal(t.service.keys.jwks());
  });

  it('authorization requests under the path reach the sign-in pages with __Host- cookies', async () => {
    const client = await makeClient(t, { grant_types: ['authorization_code'], redirect_uris: [REDIRECT], allowed_scopes: ['openid'] });
    const { challenge } = pkce();
    const u = new URL('/oidc/authorize', t.url);
    for (const [k, v] of Object.entries({
      client_id: client.client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }))
      u.searchParams.set(k, v);
    const res = await fetch(u, { redirect: 'manual', headers: proxied });
    expect(res.status).to.equal(303);
    const location = res.headers.get('location') ?? '';
    expect(location).to.match(/^\/oidc\/interaction\/[A-Za-z0-9_-]+$/);
    const cookies = res.headers.getSetCookie();
    const interaction = cookies.find((c) => c.startsWith('__Host-iam_interaction='));
    expect(interaction, cookies.join('\n'))
      .to.match(/;\s*secure/i)
      .and.match(/path=\//i);
    expect(interaction).not.to.match(/domain=/i);
    const cookie = cookies.map((c) => c.split(';')[0]).join('; ');
    const entry = await fetch(new URL(location, t.url), { headers: { ...proxied, cookie }, redirect: 'manual' });
    expect(entry.status).to.equal(303);
    expect(entry.headers.get('location')).to.equal(`${location}/identifier`);
    const page = await fetch(new URL(`${location}/identifier`, t.url), { headers: { ...proxied, cookie } });
    expect(page.status).to.equal(200);
    const html = await page.text();
    expect(html).to.include(`action="${location}/identifier"`);
    expect(html).to.match(/<link rel="stylesheet" href="\/oidc\/assets\/iam\.[0-9a-f]{12}\.css" nonce="/);
  });
});
