import { expect } from 'chai';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import {
  ACR_MFA,
  ACR_PWD,
  createUser,
  enrolConfirmedTotp,
  type RpServer,
  startRp,
  type TestUser,
  webClient,
} from '../interactions/support.ts';
import { expectContract, ORDERS_API, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { type AuthorizationRequest, FlowRecorder, launchBrowser, newContext, RelyingParty, submit } from './support.ts';

/**
 * The sign-in experience in a real browser (Debian Chromium driven by playwright-core) against
 * the running service, with openid-client as the relying party: authorization code + PKCE, the
 * ID token validated, and `amr`/`acr` matching what was actually performed.
 */
describe('browser: password sign-in', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let firstParty: TestClient;
  let app: RelyingParty;

  before(async () => {
    [t, rp, browser] = await Promise.all([startOidcService(), startRp(), launchBrowser()]);
    firstParty = await webClient(t, { firstParty: true, redirectUris: [rp.callback], postLogoutRedirectUris: [rp.postLogout] });
    app = await RelyingParty.discover(t.url, firstParty, rp.callback);
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await t?.stop();
  });

  it('(a) signs in with email and password; a first-party client sees no consent page; amr=pwd', async () => {
    const user = await createUser(t, { name: 'Ada Lovelace' });
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('password', page);
    const request = await app.authorizationRequest({ scope: 'openid email profile orders.read', resource: ORDERS_API });

    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    // Responsive: the same page on a phone-sized screen (no horizontal scrolling).
    await page.setViewportSize({ width: 360, height: 740 });
    await flow.record('identifier-narrow');
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).to.equal(true);
    await page.setViewportSize({ width: 1024, height: 800 });
    // Keyboard only: the email field has the focus, Enter submits.
    expect(await page.evaluate('document.activeElement?.id')).to.equal('email');
    await page.keyboard.type(user.email);
    await Promise.all([page.waitForURL(/\/password$/, { waitUntil: 'load' }), page.keyboard.press('Enter')]);
    await flow.at('password', 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill('not the password at all');
    await submit(page, 'Sign in', /\/password$/);
    await flow.at('password-error', 'Enter your password');
    // The error summary takes the focus and links to the field, which says what is wrong.
    expect(await page.title()).to.match(/^Error: /);
    expect(await page.evaluate('document.activeElement?.className')).to.equal('error-summary');
    await page.getByRole('link', { name: 'The email address or password is not correct' }).click();
    expect(await page.evaluate('document.activeElement?.id')).to.equal('password');
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await submit(page, 'Sign in', (url) => url.href.startsWith(rp.callback));

    const tokens = await app.finish(page.url(), request);
    const claims = tokens.claims();
    expect(claims?.sub).to.equal(user.id);
    expect(claims?.amr).to.deep.equal(['pwd']);
    expect(claims?.acr).to.equal(ACR_PWD);
    expect(claims?.auth_time).to.be.a('number');
    expectContract('idToken', tokens.id_token as string);

    const at = expectContract('accessToken', tokens.access_token).payload;
    expect(at).to.include({ sub: user.id, sub_type: 'user', aud: ORDERS_API, acr: ACR_PWD, scope: 'orders.read' });
    expect(at.amr).to.deep.equal(['pwd']);
    expect(decodeJwt(tokens.id_token as string).sid).to.equal(at.sid);
    await context.close();
  });

  it('(f) account selection: prompt=select_account shows the signed-in account; continuing needs no password', async () => {
    const user = await createUser(t, { name: 'Grace Hopper' });
    const context = await newContext(browser);
    const flow = new FlowRecorder('select-account', await context.newPage());
    const page = await passwordSteps(flow, user, await app.authorizationRequest({ scope: 'openid' }));
    await submit(page, 'Sign in', (url) => url.href.startsWith(rp.callback));

    const again = await app.authorizationRequest({ scope: 'openid', prompt: 'select_account' });
    await page.goto(again.url);
    await flow.at('choose-account', 'Choose an account');
    await submit(page, `Continue as ${user.email}`, (url) => url.href.startsWith(rp.callback));
    const tokens = await app.finish(page.url(), again);
    expect(tokens.claims()?.sub).to.equal(user.id);
    await context.close();
  });

  async function passwordSteps(flow: FlowRecorder, user: TestUser, request: AuthorizationRequest): Promise<Page> {
    const { page } = flow;
    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await flow.at('password', 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    return page;
  }

  it('(b) password + TOTP: the second factor is asked for when the account has one; amr=pwd,otp,mfa', async () => {
    const user = await createUser(t);
    const totp = await enrolConfirmedTotp(t, user);
    const context = await newContext(browser);
    const flow = new FlowRecorder('totp', await context.newPage());
    const request = await app.authorizationRequest();
    const page = await passwordSteps(flow, user, request);
    await submit(page, 'Sign in', /\/totp$/);
    await flow.at('totp', 'Enter your verification code');

    // The recovery-code alternative and the way back.
    await Promise.all([page.waitForURL(/\/recovery-code$/), page.getByRole('link', { name: 'Use a recovery code instead' }).click()]);
    await flow.at('recovery-code', 'Enter a recovery code');
    await Promise.all([page.waitForURL(/\/totp$/), page.getByRole('link', { name: 'Use your authenticator app instead' }).click()]);
    await flow.at('totp-again', 'Enter your verification code');

    await page.getByLabel('Verification code').fill(totp.code());
    await submit(page, 'Verify', (url) => url.href.startsWith(rp.callback));
    const tokens = await app.finish(page.url(), request);
    expect(tokens.claims()).to.include({ sub: user.id, acr: ACR_MFA });
    expect(tokens.claims()?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    const at = expectContract('accessToken', tokens.access_token).payload;
    expect(at).to.include({ acr: ACR_MFA, sub_type: 'user' });
    expect(at.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    await context.close();
  });

  it('(e) step-up: a signed-in password session asked for acr=mfa gets only the TOTP page', async () => {
    const user = await createUser(t);
    const context = await newContext(browser);
    const flow = new FlowRecorder('step-up', await context.newPage());
    const first = await app.authorizationRequest();
    const page = await passwordSteps(flow, user, first);
    await submit(page, 'Sign in', (url) => url.href.startsWith(rp.callback));
    const pwd = (await app.finish(page.url(), first)).claims();
    expect(pwd).to.include({ acr: ACR_PWD });

    // Without a second factor the step-up cannot be met: the page says so and the client learns it.
    const unmet = await app.authorizationRequest({ acr_values: ACR_MFA });
    await page.goto(unmet.url);
    await flow.at('unmet', 'Two-step verification is required');
    await submit(page, 'Return to the application', (url) => url.href.startsWith(rp.callback));
    expect(new URL(page.url()).searchParams.get('error')).to.equal('unmet_authentication_requirements');

    const totp = await enrolConfirmedTotp(t, user);
    const stepUp = await app.authorizationRequest({ acr_values: ACR_MFA });
    await page.goto(stepUp.url);
    await flow.at('totp', 'Enter your verification code');
    expect(await page.locator('main').textContent()).to.include(`Signing in as ${user.email}`);
    await page.getByLabel('Verification code').fill(totp.code());
    await submit(page, 'Verify', (url) => url.href.startsWith(rp.callback));
    const mfa = (await app.finish(page.url(), stepUp)).claims();
    expect(mfa).to.include({ sub: user.id, acr: ACR_MFA });
    expect(mfa?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    // The second factor proves presence, it does not refresh the first: auth_time stays.
    expect(mfa?.auth_time).to.equal(pwd?.auth_time);

    // Satisfied now: the same request passes without any page.
    const satisfied = await app.authorizationRequest({ acr_values: ACR_MFA });
    await page.goto(satisfied.url);
    await page.waitForURL((url) => url.href.startsWith(rp.callback));
    expect((await app.finish(page.url(), satisfied)).claims()).to.include({ acr: ACR_MFA });
    await context.close();
  });
});
