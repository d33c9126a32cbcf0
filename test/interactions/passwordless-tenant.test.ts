import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { basic, form, makeClient, type TestClient } from '../oidc/support.ts';
import { freePort } from '../support/process.ts';
import { startTestService, type TestService } from '../support/service.ts';
import { actionOf, authorizeUrl, callbackOf, createUser, csrfOf, normalizePage, UserAgent } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/**
 * A tenant whose allowed sign-in methods exclude passwords: the identifier page itself asks for
 * a sign-in link (and offers passkeys where the issuer can), and no page takes a password.
 */
describe('interactions: tenant without passwords', function () {
  this.timeout(120_000);
  let t: TestService;
  let issuer: string;

  before(async () => {
    // A `localhost` issuer (WebAuthn needs a host name), so passkeys are available and offered next to the link.
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    t = await startTestService({ IAM_SERVER_HTTP_PORT: String(port), IAM_ISSUER: issuer, IAM_AUTH_IP_FREE_FAILURES: '100000' });
  });
  after(async () => {
    await t?.stop();
  });

  async function tenantClient(methods: string[]): Promise<TestClient> {
    const [tenant] = await t.service
      .db('tenants')
      .insert({
        slug: `pwless-${Date.now()}-${methods.length}`,
        name: 'No passwords',
        settings: JSON.stringify({ signInMethods: methods }),
      })
      .returning('id');
    return makeClient(t, {
      name: 'Passwordless app',
      tenant_id: tenant.id,
      grant_types: ['authorization_code'],
      redirect_uris: [CALLBACK],
      allowed_scopes: ['openid', 'email'],
      first_party: true,
    });
  }

  /** An authorization request on the issuer's own host name. */
  const authorize = (client: TestClient) => {
    const r = authorizeUrl(t, client, CALLBACK);
    return { ...r, url: r.url.replace(t.url, issuer) };
  };

  async function linkFor(to: string): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const rows = await t.service.db('dev_mailbox').where({ to }).orderBy('id').select('text');
      const link = /(https?:\/\/\S+\/login\/magic-link\?token=[A-Za-z0-9_-]+)/.exec(rows.at(-1)?.text ?? '')?.[1];
      if (link) return link;
      await sleep(50);
    }
    throw new Error(`no magic link mailed to ${to}`);
  }

  it('the identifier page asks for a sign-in link directly, and the link signs in with amr ["email"]', async () => {
    const client = await tenantClient(['magic_link', 'passkey']);
    const user = await createUser(t);
    // Signing in to a tenant's client needs a membership of that tenant.
    const { tenant_id } = await t.service.db('oauth_clients').where({ client_id: client.client_id }).first('tenant_id');
    await t.service.db('memberships').insert({ tenant_id, user_id: user.id });
    const ua = new UserAgent(issuer);
    const request = authorize(client);
    const start = await ua.follow(await ua.get(request.url));
    expect(start.url).to.match(/\/identifier$/);
    expect(start.text).to.include('Email me a sign-in link');
    expect(start.text).to.not.include('>Continue<');
    const action = actionOf(start.text, '/magic-link');

    const sent = await ua.post(action, { csrf: csrfOf(start.text), email: user.email });
    expect(sent.status).to.equal(200);
    expect(sent.text).to.include('Check your email');
    // An unknown address gets the very same page.
    const other = new UserAgent(issuer);
    const otherStart = await other.follow(await other.get(authorize(client).url));
    const unknown = `nobody-${Date.now()}@example.test`;
    const unknownSent = await other.post(actionOf(otherStart.text, '/magic-link'), { csrf: csrfOf(otherStart.text), email: unknown });
    expect(normalizePage(unknownSent.text, unknown)).to.equal(normalizePage(sent.text, user.email));

    const link = await linkFor(user.email);
    const landing = await ua.get(link);
    const confirm = await ua.post(actionOf(landing.text, '/login/magic-link'), {
      csrf: csrfOf(landing.text),
      token: new URL(link).searchParams.get('token') as string,
    });
    const callback = await callbackOf(ua, confirm);
    const tokens = await form(
      `${issuer}/token`,
      {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') as string,
        code_verifier: request.verifier,
        redirect_uri: CALLBACK,
      },
      { authorization: basic(client) },
    );
    expect(tokens.status).to.equal(200);
    const idToken = decodeJwt(tokens.json.id_token as string);
    expect(idToken.sub).to.equal(user.id);
    expect(idToken.amr).to.deep.equal(['email']);
  });

  it('offers the passkey next to the link where the issuer can, and no password page is reachable', async () => {
    const client = await tenantClient(['magic_link', 'passkey']);
    const user = await createUser(t);
    const ua = new UserAgent(issuer);
    const start = await ua.follow(await ua.get(authorize(client).url));
    expect(start.text).to.include('data-passkey="authenticate"');
    expect(start.text).to.include('Sign in with a passkey');

    // The identifier step as a password tenant would have it: the email lands back on the identifier page.
    const typed = await ua.post(start.url, { csrf: csrfOf(start.text), email: user.email });
    expect(typed.status).to.equal(303);
    expect(typed.location).to.match(/\/identifier$/);
    const pw = await ua.get(start.url.replace(/\/identifier$/, '/password'));
    expect(pw.status).to.equal(303);
    expect(pw.location).to.match(/\/identifier$/);
    const guess = await ua.post(start.url.replace(/\/identifier$/, '/password'), { csrf: csrfOf(start.text), password: user.password });
    expect(guess.status).to.equal(303);
    expect(guess.location).to.match(/\/identifier$/);
    const audits = await t.service.db('audit_events').where({ target_id: user.id }).whereLike('action', 'auth.password.%');
    expect(audits, 'no password was checked').to.have.length(0);
  });

  it('a malformed address is refused on the identifier page, nothing sent', async () => {
    const client = await tenantClient(['magic_link']);
    const ua = new UserAgent(issuer);
    const start = await ua.follow(await ua.get(authorize(client).url));
    const bad = await ua.post(actionOf(start.text, '/magic-link'), { csrf: csrfOf(start.text), email: 'not an address' });
    expect(bad.status).to.equal(400);
    expect(bad.text).to.include('Enter an email address in the correct format');
    expect(bad.text).to.include('Email me a sign-in link');
    expect(bad.text, 'passkeys are not among this tenant’s methods').to.not.include('data-passkey="authenticate"');
  });

  it('a tenant allowing neither passwords, links nor available passkeys gets the "no method" page', async () => {
    const client = await tenantClient(['federation']);
    const ua = new UserAgent(issuer);
    const page = await ua.follow(await ua.get(authorize(client).url));
    expect(page.url).to.match(/\/no-method$/);
  });
});
