import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createUser, type RpServer, startRp, webClient } from '../interactions/support.ts';
import { startOidcService } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { FlowRecorder, launchBrowser, newContext, RelyingParty, submit } from './support.ts';

/** The pages nobody hopes to see are pages of ours too: same CSP, same accessibility bar. */
describe('browser: error pages', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let app: RelyingParty;

  before(async () => {
    [t, rp, browser] = await Promise.all([startOidcService(), startRp(), launchBrowser()]);
    const client = await webClient(t, { firstParty: true, redirectUris: [rp.callback] });
    app = await RelyingParty.discover(t.url, client, rp.callback);
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await t?.stop();
  });

  it('(f) engine error, expired interaction and refused form (CSRF) pages', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('errors', page);

    const engineError = await page.goto(`${t.url}/authorize?client_id=no-such-client&response_type=code&scope=openid`);
    expect(engineError?.status()).to.equal(400);
    await flow.at('oidc-error', 'This request cannot be completed');
    expect(await page.locator('main').textContent()).to.include('invalid_client');

    const expired = await page.goto(`${t.url}/interaction/AAAAAAAAAAAAAAAAAAAAA/identifier`);
    expect(expired?.status()).to.equal(404);
    await flow.at('expired', 'This sign-in request has expired');

    const user = await createUser(t);
    await page.goto((await app.authorizationRequest()).url);
    await flow.at('identifier', 'Sign in');
    // A tampered token (DevTools evaluation; the page itself runs no script) is refused with 403.
    await page.evaluate(`document.querySelector('input[name="csrf"]').value = 'forged'`);
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/identifier$/);
    await flow.at('csrf', 'This form can’t be accepted');
    await context.close();
  });
});
