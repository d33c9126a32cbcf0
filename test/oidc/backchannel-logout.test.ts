import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import { disableUser } from '../../src/identity/index.ts';
import { authorizeUrl, callbackOf, createUser, passwordSignIn, type TestUser, UserAgent } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';
import { basic, form, makeClient, startOidcService, type TestClient } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const BYE = 'https://app.example.test/bye';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A relying party's back-channel logout endpoint: records every logout token it is sent. */
async function startReceiver(status = 200) {
  const tokens: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token');
      if (req.method === 'POST' && req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') && token)
        tokens.push(token);
      res.writeHead(status, { 'cache-control': 'no-store' });
      res.end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/backchannel-logout`,
    tokens,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * OpenID Connect Back-Channel Logout 1.0: a client registered with `backchannel_logout_uri` is
 * sent a logout token signed with the issuer's key when the session it signed in through ends —
 * by RP-initiated logout, and when an administrator disables the user (queued in PostgreSQL,
 * delivered by the service).
 */
describe('oidc: back-channel logout', function () {
  this.timeout(120_000);
  let t: TestService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let client: TestClient;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  before(async () => {
    t = await startOidcService();
    receiver = await startReceiver();
    client = await makeClient(t, {
      name: 'Back-channel app',
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [CALLBACK],
      post_logout_redirect_uris: [BYE],
      backchannel_logout_uri: receiver.uri,
      allowed_scopes: ['openid', 'email'],
      first_party: true,
    });
    jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`));
  });
  after(async () => {
    await t?.stop();
    await receiver?.close();
  });

  /** Signs `user` in through `c` in a fresh browser; returns the browser and the ID token. */
  async function signIn(user: TestUser, c = client) {
    const ua = new UserAgent(t.url);
    const request = authorizeUrl(t, c, CALLBACK);
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    const code = (await callbackOf(ua, response)).searchParams.get('code') as string;
    const tokens = await form(
      `${t.url}/token`,
      { grant_type: 'authorization_code', code, code_verifier: request.verifier, redirect_uri: CALLBACK },
      { authorization: basic(c) },
    );
    expect(tokens.status, tokens.text).to.equal(200);
    const idToken = tokens.json.id_token as string;
    return { ua, idToken, sid: decodeJwt(idToken).sid as string };
  }

  /** Verifies a logout token as an RP must (OIDC Back-Channel Logout §2.6). */
  async function verifyLogoutToken(token: string, c: TestClient): Promise<JWTPayload> {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: t.url, audience: c.client_id, typ: 'logout+jwt' });
    expect(protectedHeader.alg).to.equal('ES256');
    expect(payload.events).to.deep.equal({ [EVENT]: {} });
    expect(payload).to.not.have.property('nonce');
    expect(payload.jti).to.be.a('string');
    expect(payload.iat).to.be.a('number');
    return payload;
  }

  it('RP-initiated logout sends the client a signed logout token naming the session', async () => {
    const user = await createUser(t);
    const { ua, idToken, sid } = await signIn(user);
    expect(sid).to.be.a('string');
    const before = receiver.tokens.length;

    const page = await ua.get(`/logout?id_token_hint=${idToken}&post_logout_redirect_uri=${encodeURIComponent(BYE)}&state=s1`);
    expect(page.status).to.equal(200);
    const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(page.text)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
    expect(action, page.text.slice(0, 400)).to.be.a('string');
    const done = await ua.post(action as string, { xsrf: xsrf as string, logout: 'yes' });
    expect(done.status).to.be.oneOf([302, 303]);
    expect(done.location).to.match(/^https:\/\/app\.example\.test\/bye\?state=s1/);

    expect(receiver.tokens.length).to.equal(before + 1);
    const payload = await verifyLogoutToken(receiver.tokens.at(-1) as string, client);
    expect(payload).to.include({ sub: user.id, sid });
    // The session is gone: a new authorization asks for a sign-in again.
    const again = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    expect(again.url).to.match(/\/identifier$/);
  });

  it('disabling the user ends every session and tells each of its clients, through the service’s delivery job', async () => {
    const other = await makeClient(t, {
      name: 'No back-channel app',
      grant_types: ['authorization_code'],
      redirect_uris: [CALLBACK],
      allowed_scopes: ['openid', 'email'],
      first_party: true,
    });
    const user = await createUser(t);
    const phone = await signIn(user);
    const laptop = await signIn(user);
    await signIn(user, other);
    expect(phone.sid).to.not.equal(laptop.sid);
    const before = receiver.tokens.length;

    const result = await disableUser(t.service.db, undefined, user.id, { type: 'system', id: 'test' }, 'left the company');
    expect(result.sessions_ended).to.be.a('number');
    const [audit] = await t.service.db('audit_events').where({ action: 'user.disabled', target_id: user.id });
    expect(audit.details).to.include({ backchannel_logouts: 2 });

    const tokens = await until('two logout tokens', () =>
      receiver.tokens.length >= before + 2 ? receiver.tokens.slice(before) : undefined,
    );
    const payloads = await Promise.all(tokens.map((tk) => verifyLogoutToken(tk, client)));
    expect(payloads.map((p) => p.sub)).to.deep.equal([user.id, user.id]);
    expect(payloads.map((p) => p.sid)).to.have.members([phone.sid, laptop.sid]);
    await until('the queue to empty', async () =>
      (await t.service.db('backchannel_logouts').where({ account_id: user.id })).length === 0 ? true : undefined,
    );
    // Nothing was queued for the client without a back-channel endpoint, and nothing else was sent.
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.tokens.length).to.equal(before + 2);

    const again = await phone.ua.follow(await phone.ua.get(authorizeUrl(t, client, CALLBACK).url));
    expect(again.url).to.match(/\/identifier$/);
  });

  it('a client that does not acknowledge is retried later, not dropped at once and not told twice meanwhile', async () => {
    const failing = await startReceiver(500);
    try {
      const flaky = await makeClient(t, {
        name: 'Flaky app',
        grant_types: ['authorization_code'],
        redirect_uris: [CALLBACK],
        backchannel_logout_uri: failing.uri,
        allowed_scopes: ['openid', 'email'],
        first_party: true,
      });
      const user = await createUser(t);
      await signIn(user, flaky);
      await disableUser(t.service.db, undefined, user.id, { type: 'system', id: 'test' }, 'test');
      const row = await until('a failed attempt', async () => {
        const r = await t.service.db('backchannel_logouts').where({ account_id: user.id }).first();
        return r?.last_error ? r : undefined;
      });
      expect(row).to.include({ client_id: flaky.client_id, attempts: 1 });
      expect(row.last_error).to.match(/500/);
      expect(new Date(row.next_attempt_at).getTime()).to.be.greaterThan(Date.now() + 30_000);
      expect(failing.tokens).to.have.length(1);
      await new Promise((r) => setTimeout(r, 6_000));
      expect(failing.tokens, 'not retried before its wait').to.have.length(1);
    } finally {
      await failing.close();
    }
  });
});
