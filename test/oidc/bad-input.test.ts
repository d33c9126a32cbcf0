import { expect } from 'chai';
import fc from 'fast-check';
import type { TestService } from '../support/service.ts';
import {
  basic,
  clientCredentials,
  introspectorClient,
  makeClient,
  ORDERS_API,
  startOidcService,
  type TestClient,
  workloadClient,
} from './support.ts';

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

async function send(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<Answer> {
  const res = await fetch(url, { redirect: 'manual', ...init } as RequestInit);
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** A 4xx with an RFC 6749 error body (JSON) or the HTML error page — never a 5xx, never a stack. */
function expectOAuthError(a: Answer, label: string) {
  expect(a.status, `${label}: ${a.body.slice(0, 300)}`).to.be.within(400, 499);
  if (a.contentType.startsWith('application/json')) {
    const json = JSON.parse(a.body) as { error?: unknown };
    expect(json.error, label).to.be.a('string');
  } else if (a.status !== 431) {
    expect(a.contentType, label).to.match(/^text\/html/);
  }
  expect(a.body, label).not.to.match(/at .+\.(js|ts):\d+/);
}

const BIG = 'x'.repeat(100 * 1024);
/** Raw bytes that are not UTF-8: a truncated sequence, a lone continuation byte, an overlong slash, a surrogate, 0xFF. */
const BAD_UTF8 = ['%C3%28', '%80', '%C0%AF', '%ED%A0%80', '%FF%FE', '%00'];

/**
 * Bad input on every endpoint: wrong content type, duplicated parameters, oversized values and
 * invalid UTF-8 give an OAuth error (4xx), never a 5xx.
 */
describe('oidc: bad input on every endpoint', function () {
  this.timeout(120_000);
  let t: TestService;
  let workload: TestClient;
  let rs: TestClient;
  let web: TestClient;
  let jwt: string;

  before(async () => {
    t = await startOidcService();
    workload = await workloadClient(t);
    rs = await introspectorClient(t);
    web = await makeClient(t, {
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.test/cb'],
      post_logout_redirect_uris: ['https://app.example.test/'],
      allowed_resources: [ORDERS_API],
      allowed_scopes: ['openid', 'offline_access'],
    });
    jwt = (await clientCredentials(t, workload, { resource: ORDERS_API })).json.access_token as string;
  });
  after(async () => {
    await t?.stop();
  });

  const posts = () => [
    {
      name: 'token',
      path: '/token',
      client: () => workload,
      params: `grant_type=client_credentials&resource=${encodeURIComponent(ORDERS_API)}`,
    },
    { name: 'introspection', path: '/introspect', client: () => rs, params: `token=${jwt}` },
    { name: 'revocation', path: '/revoke', client: () => workload, params: `token=${jwt}` },
    {
      name: 'PAR',
      path: '/par',
      client: () => web,
      params:
        'response_type=code&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcb&scope=openid&code_challenge_method=S256&code_challenge=' +
        'a'.repeat(43),
    },
  ];

  it('POST endpoints: wrong content type', async () => {
    for (const e of posts()) {
      for (const contentType of [
        'application/json',
        'text/plain',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded; charset=latin-1',
        'garbage',
      ]) {
        const body = contentType === 'application/json' ? JSON.stringify(Object.fromEntries(new URLSearchParams(e.params))) : e.params;
        const a = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: { authorization: basic(e.client()), 'content-type': contentType, accept: 'application/json' },
          body,
        });
        if (contentType === 'application/x-www-form-urlencoded; charset=latin-1' && a.status < 400) continue; // a charset parameter is fine
        expectOAuthError(a, `${e.name} ${contentType}`);
      }
    }
  });

  it('POST endpoints: duplicated parameters', async () => {
    for (const e of posts()) {
      const first = e.params.split('&')[0] as string;
      const a = await send(`${t.url}${e.path}`, {
        method: 'POST',
        headers: { authorization: basic(e.client()), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `${e.params}&${first}`,
      });
      expectOAuthError(a, `${e.name} duplicate ${first}`);
      const dupClient = await send(`${t.url}${e.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `${e.params}&client_id=${e.client().client_id}&client_id=${e.client().client_id}&client_secret=${e.client().client_secret}`,
      });
      expectOAuthError(dupClient, `${e.name} duplicate client_id`);
    }
  });

  it('POST endpoints: oversized values (100 KB) in every parameter position', async () => {
    for (const e of posts()) {
      for (const body of [
        `${e.params}&scope=${BIG}`,
        `${e.params}&${BIG}=1`,
        `${e.params}&resource=https%3A%2F%2F${BIG}.example`,
        `token=${BIG}`,
      ]) {
        const a = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: { authorization: basic(e.client()), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body,
        });
        expectOAuthError(a, `${e.name} oversized`);
      }
      // A value just under the engine's body limit still gets a clean OAuth answer.
      const near = await send(`${t.url}${e.path}`, {
        method: 'POST',
        headers: { authorization: basic(e.client()), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `${e.params}&scope=${'y'.repeat(50_000)}`,
      });
      expect(near.status, `${e.name} 50 KB scope`).to.be.below(500);
    }
  });

  it('POST endpoints: invalid UTF-8 and NUL bytes, percent-encoded and raw', async () => {
    for (const e of posts()) {
      for (const bad of BAD_UTF8) {
        for (const body of [
          `${e.params}&scope=${bad}`,
          `${e.params.replace(/=([^&]*)/, `=${bad}$1`)}`,
          `${e.params}&resource=https%3A%2F%2Fx${bad}.example`,
        ]) {
          const a = await send(`${t.url}${e.path}`, {
            method: 'POST',
            headers: { authorization: basic(e.client()), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
            body,
          });
          expect(a.status, `${e.name} ${body.slice(0, 80)}: ${a.body.slice(0, 200)}`).to.be.below(500);
        }
        const raw = Buffer.concat([Buffer.from(`${e.params}&scope=`), Buffer.from([0xc3, 0x28, 0xff, 0x00, 0xed, 0xa0, 0x80])]);
        const a = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: { authorization: basic(e.client()), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: raw,
        });
        expect(a.status, `${e.name} raw bytes`).to.be.below(500);
      }
      // Client identifiers that are not even UTF-8, in Basic credentials and in the body.
      for (const id of ['%C3%28', '%00', '%FF', 'a%00b', `${'z'.repeat(5000)}`]) {
        const creds = Buffer.from(`${id}:${id}`).toString('base64');
        const viaBasic = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: { authorization: `Basic ${creds}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: e.params,
        });
        expectOAuthError(viaBasic, `${e.name} basic ${id}`);
        const viaBody = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: `${e.params}&client_id=${id}&client_secret=${id}`,
        });
        expectOAuthError(viaBody, `${e.name} body client_id ${id}`);
      }
      for (const header of [
        'Basic',
        'Basic !!!',
        `Basic ${Buffer.from('no-colon').toString('base64')}`,
        'Bearer x',
        'Basic '.padEnd(20_000, 'A'),
      ]) {
        const a = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: { authorization: header, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: e.params,
        });
        expectOAuthError(a, `${e.name} authorization ${header.slice(0, 20)}`);
      }
    }
  });

  it('POST endpoints: malformed DPoP proofs', async () => {
    for (const e of posts().filter((x) => x.name === 'token' || x.name === 'PAR')) {
      for (const dpop of ['x', 'a.b.c', `${'e'.repeat(10_000)}.x.y`, 'eyJhbGciOiJub25lIn0.e30.']) {
        const a = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: {
            authorization: basic(e.client()),
            dpop,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: e.params,
        });
        expectOAuthError(a, `${e.name} dpop ${dpop.slice(0, 10)}`);
      }
    }
  });

  it('token endpoint: unknown grants, malformed tokens and codes', async () => {
    const h = { authorization: basic(web), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    for (const body of [
      'grant_type=refresh_token',
      'grant_type=refresh_token&refresh_token=%00',
      `grant_type=refresh_token&refresh_token=${BIG.slice(0, 40_000)}`,
      'grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcb&code_verifier=short',
      `grant_type=authorization_code&code=${jwt}&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcb&code_verifier=${'v'.repeat(43)}`,
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=x',
      'grant_type=implicit',
      'grant_type=%C3%28',
      'grant_type[]=client_credentials',
      '',
      '&&&=&=',
    ]) {
      expectOAuthError(await send(`${t.url}/token`, { method: 'POST', headers: h, body }), `token ${body.slice(0, 60)}`);
    }
    const getToken = await send(`${t.url}/token?grant_type=client_credentials`, { headers: { authorization: basic(workload) } });
    expect(getToken.status).to.be.within(400, 499);
  });

  it('GET endpoints (authorization, end_session, userinfo, interaction): invalid UTF-8, duplicates, oversized values', async () => {
    const authz = `client_id=${web.client_id}&response_type=code&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcb&scope=openid&code_challenge_method=S256&code_challenge=${'a'.repeat(43)}`;
    const cases: [string, string][] = [];
    for (const bad of BAD_UTF8) {
      cases.push([`/authorize?${authz}&state=${bad}`, 'state']);
      cases.push([`/authorize?${authz}&scope=openid${bad}`, 'scope']);
      cases.push([`/authorize?${authz.replace(`client_id=${web.client_id}`, `client_id=${bad}`)}`, 'client_id']);
      cases.push([`/authorize?${authz.replace('redirect_uri=', `redirect_uri=${bad}`)}`, 'redirect_uri']);
      cases.push([`/logout?client_id=${web.client_id}&post_logout_redirect_uri=${bad}`, 'logout uri']);
      cases.push([`/logout?id_token_hint=${bad}`, 'logout hint']);
      cases.push([`/userinfo?access_token=${bad}`, 'userinfo']);
      cases.push([`/interaction/${bad}`, 'interaction']);
    }
    cases.push([`/authorize?${authz}&${authz}`, 'duplicates']);
    cases.push([`/authorize?${authz}&client_id=${web.client_id}`, 'duplicate client_id']);
    cases.push([`/authorize?${authz}&resource=${encodeURIComponent(ORDERS_API)}&resource=x`, 'two resources, one bad']);
    cases.push([`/authorize?${authz}&scope=${'s'.repeat(10_000)}`, '10 KB scope']);
    cases.push([`/authorize?${authz}&claims=%7B`, 'claims not JSON']);
    cases.push([`/authorize?${authz}&request=a.b.c`, 'request object']);
    cases.push([`/authorize?${authz}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A${'%00'.repeat(3)}`, 'request_uri']);
    cases.push([`/authorize?${authz}&max_age=-1&prompt=none%20login`, 'prompt/max_age']);
    cases.push([`/authorize`, 'no parameters']);
    cases.push([`/logout?id_token_hint=a.b.c&client_id=${web.client_id}`, 'logout bad hint']);
    cases.push([`/logout?client_id=${web.client_id}&client_id=x`, 'logout duplicates']);
    cases.push([`/logout?client_id=${web.client_id}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F`, 'logout unregistered uri']);
    cases.push(['/userinfo', 'userinfo without token']);
    for (const [path, label] of cases) {
      for (const accept of ['text/html', 'application/json']) {
        const a = await send(`${t.url}${path}`, { headers: { accept } });
        expect(a.status, `${label} ${path.slice(0, 100)} (${accept}): ${a.body.slice(0, 200)}`).to.be.below(500);
        if (a.status >= 300 && a.status < 400) {
          // The only redirects allowed: our interaction page, or errors to the registered redirect URI.
          expect(a.body).to.not.include('evil');
        }
      }
    }
    // A 100 KB value does not fit the request line: Node's HTTP parser answers 431 itself.
    const huge = await send(`${t.url}/authorize?${authz}&scope=${BIG}`);
    expect(huge.status).to.be.within(400, 499);
  });

  it('property: arbitrary parameter names and values (any Unicode, control bytes, huge) never give a 5xx', async () => {
    const value = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 50 }),
      fc.constantFrom(...BAD_UTF8, '', '%', '%%', '+', '=', '&', jwt, `${jwt}.x`, 'urn:ietf:params:oauth:request_uri:x'),
    );
    const names = fc.constantFrom(
      'grant_type',
      'client_id',
      'client_secret',
      'scope',
      'resource',
      'token',
      'token_type_hint',
      'redirect_uri',
      'response_type',
      'code_challenge',
      'code_challenge_method',
      'request_uri',
      'request',
      'claims',
      'refresh_token',
      'code',
      'code_verifier',
      'dpop_jkt',
      'prompt',
      'max_age',
      'id_token_hint',
      'post_logout_redirect_uri',
      'state',
      'nonce',
      'authorization_details',
    );
    const params = fc.array(fc.tuple(names, value), { minLength: 1, maxLength: 8 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...posts()), params, fc.boolean(), async (e, pairs, authenticated) => {
        const body = pairs.map(([k, v]) => `${k}=${v.startsWith('%') ? v : encodeURIComponent(v)}`).join('&');
        const a = await send(`${t.url}${e.path}`, {
          method: 'POST',
          headers: {
            ...(authenticated ? { authorization: basic(e.client()) } : {}),
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body,
        });
        expect(a.status, `${e.name} ${body.slice(0, 200)}: ${a.body.slice(0, 200)}`).to.be.below(500);
      }),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(params, fc.constantFrom('/authorize', '/logout', '/userinfo'), async (pairs, path) => {
        const query = pairs.map(([k, v]) => `${k}=${v.startsWith('%') ? v : encodeURIComponent(v)}`).join('&');
        const a = await send(`${t.url}${path}?client_id=${web.client_id}&${query}`, { headers: { accept: 'text/html' } });
        expect(a.status, `${path}?${query.slice(0, 200)}: ${a.body.slice(0, 200)}`).to.be.below(500);
      }),
      {
        numRuns: 150,
        // Found by this property once: a NUL in a parameter the engine stores (jsonb refuses U+0000).
        examples: [
          [[['state', '%00']], '/logout'],
          [[['state', '%00']], '/authorize'],
          [[['nonce', '%00']], '/authorize'],
        ],
      },
    );
  });

  it('discovery and JWKS ignore junk and never fail; unsupported methods are refused cleanly', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server']) {
      for (const q of ['?%C3%28=%FF', `?x=${'y'.repeat(8000)}`, '?a=1&a=2']) {
        const a = await send(`${t.url}${path}${q}`);
        expect(a.status, `${path}${q.slice(0, 20)}`).to.equal(200);
      }
      const post = await send(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      expect(post.status, `POST ${path}`).to.be.within(400, 499);
    }
    for (const [method, path] of [
      ['PUT', '/token'],
      ['DELETE', '/introspect'],
      ['PATCH', '/revoke'],
      ['PUT', '/par'],
    ] as const) {
      expect((await send(`${t.url}${path}`, { method })).status, `${method} ${path}`).to.be.within(400, 499);
    }
  });
});
