import { expect } from 'chai';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { ACR_PWD, createUser, type RpServer, startRp, type TestUser, webClient } from '../interactions/support.ts';
import { expectContract, ORDERS_API, startOidcService } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { FlowRecorder, launchBrowser, newContext, RelyingParty, submit } from './support.ts';

/** Third-party clients ask for consent: Allow issues tokens for what was shown, Deny is access_denied. */
describe('browser: consent for a third-party client', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let partner: RelyingParty;

  before(async () => {
    [t, rp, browser] = await Promise.all([startOidcService(), startRp(), launchBrowser()]);
    const client = await webClient(t, { firstParty: false, name: 'Partner Reports', redirectUris: [rp.callback] });
    partner = await RelyingParty.discover(t.url, client, rp.callback);
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await t?.stop();
  });

  async function signInToConsent(flowName: string, user: TestUser) {
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder(flowName, page);
    const request = await partner.authorizationRequest({ scope: 'openid email orders.read', resource: ORDERS_API });
    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await flow.at('password', 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await submit(page, 'Sign in', /\/consent$/);
    await flow.at('consent', 'Allow Partner Reports to access your account?');
    return { context, page, flow, request };
  }

  it('(c) shows the requested scopes and resource; Allow completes the sign-in with them', async () => {
    const user = await createUser(t);
    const { context, page, request } = await signInToConsent('consent-allow', user);
    const main = page.locator('main');
    for (const text of ['Confirm who you are', 'See your email address', `Act for you at ${ORDERS_API}:`, '“orders.read”', user.email]) {
      expect(await main.textContent()).to.include(text);
    }
    await submit(page, 'Allow', (url) => url.href.startsWith(rp.callback));
    const tokens = await partner.finish(page.url(), request);
    expect(tokens.claims()).to.include({ sub: user.id, acr: ACR_PWD });
    // The access token is for the API (its scope); the consented email scope shows in the ID token.
    expect(tokens.scope).to.equal('orders.read');
    expect(tokens.claims()?.email).to.equal(user.email);
    const at = expectContract('accessToken', tokens.access_token).payload;
    expect(at).to.include({ aud: ORDERS_API, scope: 'orders.read', sub_type: 'user' });

    // The consent is remembered: the same request in the same browser needs no page at all.
    const again = await partner.authorizationRequest({ scope: 'openid email orders.read', resource: ORDERS_API });
    await page.goto(again.url);
    await page.waitForURL((url) => url.href.startsWith(rp.callback));
    expect((await partner.finish(page.url(), again)).claims()?.sub).to.equal(user.id);
    await context.close();
  });

  it('(c) Deny returns access_denied to the client and issues nothing', async () => {
    const user = await createUser(t);
    const { context, page, request } = await signInToConsent('consent-deny', user);
    await submit(page, 'Deny', (url) => url.href.startsWith(rp.callback));
    const callback = new URL(page.url());
    expect(callback.searchParams.get('error')).to.equal('access_denied');
    expect(callback.searchParams.get('code')).to.equal(null);
    expect(callback.searchParams.get('state')).to.equal(request.state);
    expect(callback.searchParams.get('iss')).to.equal(t.service.config.issuer);
    let error: unknown;
    try {
      await partner.finish(page.url(), request);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(oidc.AuthorizationResponseError);
    expect((error as oidc.AuthorizationResponseError).error).to.equal('access_denied');
    await context.close();
  });
});
