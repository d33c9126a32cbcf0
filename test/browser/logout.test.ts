import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createUser, type RpServer, startRp, webClient } from '../interactions/support.ts';
import { startOidcService } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { FlowRecorder, launchBrowser, newContext, RelyingParty, submit } from './support.ts';

/** RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) through our confirmation page. */
describe('browser: RP-initiated logout', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let app: RelyingParty;

  before(async () => {
    [t, rp, browser] = await Promise.all([startOidcService(), startRp(), launchBrowser()]);
    const client = await webClient(t, {
      firstParty: true,
      name: 'InfraNotes Web',
      redirectUris: [rp.callback],
      postLogoutRedirectUris: [rp.postLogout],
    });
    app = await RelyingParty.discover(t.url, client, rp.callback);
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await t?.stop();
  });

  it('(d) confirms, ends the session, returns to the registered post-logout URI with state; signing in again asks for the password', async () => {
    const user = await createUser(t);
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('logout', page);
    const request = await app.authorizationRequest();
    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await flow.at('password', 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await submit(page, 'Sign in', (url) => url.href.startsWith(rp.callback));
    const tokens = await app.finish(page.url(), request);

    await page.goto(
      app.endSessionUrl({ id_token_hint: tokens.id_token as string, post_logout_redirect_uri: rp.postLogout, state: 'bye-1' }),
    );
    await flow.at('confirm', 'Sign out of InfraNotes?');
    expect(await page.locator('main').textContent()).to.include('InfraNotes Web asked to sign you out.');
    await submit(page, /^Sign out$/, (url) => url.href.startsWith(rp.postLogout));
    expect(new URL(page.url()).searchParams.get('state')).to.equal('bye-1');

    // The session is gone: a new authorization request starts at the sign-in page again.
    const again = await app.authorizationRequest();
    await page.goto(again.url);
    await flow.at('signed-out-identifier', 'Sign in');

    // Without a post-logout URI the engine ends on our "signed out" page.
    await page.goto(`${t.url}/logout/success`);
    await flow.at('signed-out', 'You are signed out');
    await context.close();
  });
});
