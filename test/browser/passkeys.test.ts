import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { createAuthThrottle, createFactorGuard } from '../../src/security/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { createPasskeyService, createRelyingParty } from '../../src/webauthn/index.ts';
import {
  ACR_MFA,
  actionOf,
  authorizeUrl,
  createUser,
  csrfOf,
  enrolConfirmedTotp,
  type RpServer,
  startRp,
  type TestUser,
  UserAgent,
  webClient,
} from '../interactions/support.ts';
import { expectContract, startOidcService, type TestClient } from '../oidc/support.ts';
import { freePort } from '../support/process.ts';
import type { TestService } from '../support/service.ts';
import { throttleConfig } from '../webauthn/support.ts';
import { FlowRecorder, launchBrowser, pageWithAuthenticator, RelyingParty, submit } from './support.ts';

const ACR_PHR = 'urn:infranotes:acr:phr';

/**
 * Passkeys in a real browser: Chromium's virtual authenticator (DevTools WebAuthn domain) against
 * the running service on `http://localhost:<port>` (WebAuthn needs a host name, not an IP), with
 * openid-client as the relying party validating the ID token.
 */
describe('browser: passkeys', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let client: TestClient;
  let app: RelyingParty;
  let issuer: string;

  before(async () => {
    const { startTestService } = await import('../support/service.ts');
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    [t, rp, browser] = await Promise.all([
      startTestService({ IAM_SERVER_HTTP_PORT: String(port), IAM_ISSUER: issuer }),
      startRp(),
      launchBrowser(),
    ]);
    client = await webClient(t, { firstParty: true, redirectUris: [rp.callback], postLogoutRedirectUris: [rp.postLogout] });
    app = await RelyingParty.discover(issuer, client, rp.callback);
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await t?.stop();
  });

  /**
   * Registers a passkey for `user` through the service's own ceremony (`startRegistration` /
   * `finishRegistration` against the issuer's relying party), with the browser's authenticator
   * creating the credential on a page of the issuer's origin (the account page's slice will
   * drive the same calls from its own form).
   */
  async function registerPasskey(page: Page, user: TestUser): Promise<void> {
    const store = new MemoryStore();
    const throttle = createAuthThrottle({ store, config: throttleConfig() });
    const relyingParty = createRelyingParty({ issuer, rpName: 'InfraNotes' });
    expect(relyingParty.available, 'passkeys available on localhost').to.equal(true);
    const passkeys = createPasskeyService({ relyingParty, throttle, guard: createFactorGuard({ throttle, lockoutThreshold: 100 }) });
    const options = await passkeys.startRegistration(t.service.db, store, { userId: user.id, userName: user.email });
    await page.waitForFunction('typeof window.SimpleWebAuthnBrowser === "object"');
    const response = await page.evaluate(`window.SimpleWebAuthnBrowser.startRegistration({ optionsJSON: ${JSON.stringify(options)} })`);
    const result = await passkeys.finishRegistration(t.service.db, store, { userId: user.id, response, name: 'Virtual authenticator' });
    expect(result.ok, 'registration verified').to.equal(true);
  }

  it("(a) passwordless through conditional UI (the email field's autofill); amr=hwk,user,mfa; acr=phr", async () => {
    const user = await createUser(t, { name: 'Grace Hopper' });
    const { context, page, cdp, authenticatorId } = await pageWithAuthenticator(browser);
    const flow = new FlowRecorder('passkey', page);
    const request = await app.authorizationRequest();

    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    // Conditional UI on the email field, the scripts served by us with SRI and the page's nonce.
    expect(await page.getAttribute('#email', 'autocomplete')).to.equal('username webauthn');
    const scripts = await page.$$eval('script', (els) => els.map((s) => ({ src: s.getAttribute('src'), integrity: s.integrity })));
    expect(scripts.map((s) => s.src)).to.have.length(2);
    for (const s of scripts) {
      expect(s.src).to.match(/^\/assets\/[a-z.-]+\.[0-9a-f]{12}\.js$/);
      expect(s.integrity).to.match(/^sha384-/);
    }
    await registerPasskey(page, user);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).to.have.length(1);
    expect(credentials[0]?.isResidentCredential).to.equal(true);

    // A fresh identifier page (the registration call replaced its pending autofill request): the
    // browser's autofill request is answered with the passkey, and the sign-in completes.
    await Promise.all([page.waitForURL((url) => url.href.startsWith(rp.callback), { waitUntil: 'load' }), page.reload()]);

    const tokens = await app.finish(page.url(), request);
    const claims = tokens.claims();
    expect(claims?.sub).to.equal(user.id);
    expect(claims?.amr).to.deep.equal(['hwk', 'user', 'mfa']);
    expect(claims?.acr).to.equal(ACR_PHR);
    expectContract('idToken', tokens.id_token as string);
    const at = expectContract('accessToken', tokens.access_token).payload;
    expect(at).to.include({ sub: user.id, acr: ACR_PHR });
    expect(at.amr).to.deep.equal(['hwk', 'user', 'mfa']);
    await context.close();
  });

  it('(a2) passwordless with the "Sign in with a passkey" button; same amr and acr', async () => {
    const user = await createUser(t);
    const { context, page } = await pageWithAuthenticator(browser, { conditionalUi: false });
    const flow = new FlowRecorder('passkey-button', page);
    const request = await app.authorizationRequest();
    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await registerPasskey(page, user);
    await page.reload();
    await flow.at('identifier-again', 'Sign in');
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.waitFor({ state: 'visible' });
    await flow.record('identifier-button');
    expect(await page.locator('#passkey-error').isHidden(), 'no error shown before a failure').to.equal(true);
    await Promise.all([page.waitForURL((url) => url.href.startsWith(rp.callback), { waitUntil: 'load' }), button.click()]);

    const tokens = await app.finish(page.url(), request);
    expect(tokens.claims()).to.include({ sub: user.id, acr: ACR_PHR });
    expect(tokens.claims()?.amr).to.deep.equal(['hwk', 'user', 'mfa']);
    await context.close();
  });

  it('(b) password + passkey as the second factor (offered next to TOTP); amr=pwd,hwk,user,mfa', async () => {
    const user = await createUser(t);
    await enrolConfirmedTotp(t, user);
    const { context, page } = await pageWithAuthenticator(browser, { conditionalUi: false });
    const flow = new FlowRecorder('passkey-2fa', page);
    const request = await app.authorizationRequest({ acr_values: ACR_MFA });

    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await registerPasskey(page, user);
    await page.reload();
    await flow.at('identifier-again', 'Sign in');
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await flow.at('password', 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await submit(page, 'Sign in', /\/totp$/);
    await flow.at('totp', 'Enter your verification code');
    await Promise.all([page.waitForURL(/\/passkey$/), page.getByRole('link', { name: 'Use a passkey instead' }).click()]);
    await flow.at('passkey', 'Use your passkey');
    expect(await page.locator('#passkey-error').isHidden()).to.equal(true);
    expect(await page.locator('main').textContent()).to.include(`Signing in as ${user.email}`);
    const button = page.getByRole('button', { name: 'Use a passkey' });
    await button.waitFor({ state: 'visible' });
    await Promise.all([page.waitForURL((url) => url.href.startsWith(rp.callback), { waitUntil: 'load' }), button.click()]);

    const tokens = await app.finish(page.url(), request);
    const claims = tokens.claims();
    expect(claims?.sub).to.equal(user.id);
    expect(claims?.amr).to.deep.equal(['pwd', 'hwk', 'user', 'mfa']);
    expect(claims?.acr).to.equal(ACR_PHR);
    await context.close();
  });
  it('(c) step-up to acr=phr: a password + TOTP session is asked only for the passkey (user verification required)', async () => {
    const user = await createUser(t);
    const totp = await enrolConfirmedTotp(t, user);
    const { context, page } = await pageWithAuthenticator(browser, { conditionalUi: false });
    const flow = new FlowRecorder('passkey-step-up', page);
    const first = await app.authorizationRequest();
    await page.goto(first.url);
    await flow.at('identifier', 'Sign in');
    await registerPasskey(page, user);
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await submit(page, 'Sign in', /\/totp$/);
    await page.getByLabel('Verification code').fill(totp.code());
    await submit(page, 'Verify', (url) => url.href.startsWith(rp.callback));
    const mfa = (await app.finish(page.url(), first)).claims();
    expect(mfa).to.include({ acr: ACR_MFA });

    const stepUp = await app.authorizationRequest({ acr_values: ACR_PHR });
    await page.goto(stepUp.url);
    await flow.at('passkey', 'Use your passkey');
    // Only a passkey can reach phr: no way out to the authenticator app here.
    expect(await page.getByRole('link', { name: 'Use your authenticator app instead' }).count()).to.equal(0);
    const button = page.getByRole('button', { name: 'Use a passkey' });
    await button.waitFor({ state: 'visible' });
    await Promise.all([page.waitForURL((url) => url.href.startsWith(rp.callback), { waitUntil: 'load' }), button.click()]);
    const phr = (await app.finish(page.url(), stepUp)).claims();
    expect(phr).to.include({ sub: user.id, acr: ACR_PHR });
    expect(phr?.amr).to.deep.equal(['pwd', 'hwk', 'otp', 'user', 'mfa']);
    expect(phr?.auth_time).to.equal(mfa?.auth_time);
    await context.close();
  });

  it('the options endpoint checks CSRF and the finish answers one generic message; a handle works once', async () => {
    const ua = new UserAgent(issuer);
    const start = await ua.follow(await ua.get(authorizeUrl({ url: issuer } as TestService, client, rp.callback).url));
    expect(start.url).to.match(/\/identifier$/);
    const csrf = csrfOf(start.text);
    const options = actionOf(start.text, '/identifier').replace(/\/identifier$/, '/passkey-options');
    const finish = options.replace(/-options$/, '');
    const json = { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' };
    const call = (headers: Record<string, string>) => ua.request(options, { method: 'POST', headers: { ...json, ...headers }, body: '{}' });

    expect((await call({})).status, 'no token').to.equal(403);
    expect((await call({ 'x-csrf-token': 'A'.repeat(43) })).status, 'wrong token').to.equal(403);
    expect((await call({ 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })).status, 'cross-site').to.equal(403);
    const ok = await call({ 'x-csrf-token': csrf });
    expect(ok.status).to.equal(200);
    expect(ok.headers.get('cache-control')).to.equal('no-store');
    const body = JSON.parse(ok.text) as Record<string, unknown>;
    expect(body).to.include({ rpId: 'localhost', userVerification: 'required' });
    expect(body.allowCredentials ?? []).to.deep.equal([]);

    const forged = JSON.stringify({ id: 'AAAAAAAAAAAAAAAAAAAAAA', rawId: 'AAAAAAAAAAAAAAAAAAAAAA', type: 'public-key', response: {} });
    const first = await ua.post(finish, { csrf, response: forged });
    expect(first.status).to.equal(400);
    expect(first.text).to.include('Your passkey could not be used to sign in.');
    // The challenge handle left the interaction with the first attempt.
    const again = await ua.post(finish, { csrf, response: forged });
    expect(again.status).to.equal(400);
    expect(again.text).to.include('The passkey request has expired.');
  });
});

describe('passkeys on an IP-address issuer', function () {
  this.timeout(120_000);
  let t: TestService;

  before(async () => {
    t = await startOidcService();
  });
  after(async () => {
    await t?.stop();
  });

  it('are not offered: no script, no button, no conditional UI; the passkey routes do nothing', async () => {
    const client = await webClient(t, { firstParty: true, redirectUris: ['https://app.example.test/cb'] });
    const ua = new UserAgent(t.url);
    const start = await ua.follow(await ua.get(authorizeUrl(t, client, 'https://app.example.test/cb').url));
    expect(start.url).to.match(/\/identifier$/);
    expect(start.text).not.to.include('<script');
    expect(start.text).not.to.include('data-passkey');
    expect(start.text).to.include('autocomplete="username"');
    expect(start.headers.get('content-security-policy')).not.to.include('script-src');
    const csrf = csrfOf(start.text);
    const options = actionOf(start.text, '/identifier').replace(/\/identifier$/, '/passkey-options');
    const res = await ua.request(options, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrf },
      body: '{}',
    });
    expect(res.status).to.equal(409);
    const page = await ua.get(options.replace(/-options$/, ''));
    expect(page.status).to.equal(303);
  });
});
