import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { ACR_PWD, createUser, type RpServer } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';
import { type SmtpMessage, waitForMailLink } from '../support/smtp.ts';
import { startMailFlowStack, stopMailFlowStack } from './mail-stack.ts';
import { FlowRecorder, newContext, type RelyingParty, submit } from './support.ts';

const NEW_PASSWORD = 'a brand new passphrase for the reset 97';

/**
 * Password reset in a real browser: "Forgot your password?" → mail over SMTP to a listener in this
 * test → new password (policy errors shown) → not signed in → sign-in with the new password, the
 * relying party validating the ID token.
 */
describe('browser: password reset', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let app: RelyingParty;
  let smtp: { url: string; messages: SmtpMessage[]; close(): Promise<void> };

  before(async () => {
    ({ smtp, t, rp, browser, app } = await startMailFlowStack({ IAM_AUTH_IP_FREE_FAILURES: '100000' }));
  });
  after(() => stopMailFlowStack({ browser, rp, t, smtp }));

  it('resets the password by emailed link, then signs in with the new one; amr=pwd', async () => {
    const user = await createUser(t);
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('password-reset', page);
    const request = await app.authorizationRequest();

    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await flow.at('password', 'Enter your password');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL(/\/forgot-password$/, { waitUntil: 'load' });
    await flow.at('forgot', 'Reset your password');
    expect(await page.getByLabel('Email address').inputValue()).to.equal(user.email);
    await submit(page, 'Send reset link', /\/forgot-password$/);
    await flow.at('check-email', 'Check your email');

    const link = await waitForMailLink(smtp.messages, user.email, '/password/reset');
    const linkPage = await context.newPage();
    const linkFlow = new FlowRecorder('password-reset-link', linkPage);
    await linkPage.goto(link);
    await linkFlow.at('form', 'Choose a new password');
    await linkPage.getByLabel('New password').fill('too short');
    await submit(linkPage, 'Change password', /\/password\/reset$/);
    await linkFlow.at('form-error', 'Choose a new password');
    expect(await linkPage.title()).to.match(/^Error: /);
    await linkPage.getByLabel('New password').fill(NEW_PASSWORD);
    await submit(linkPage, 'Change password', /\/password\/reset$/);
    await linkFlow.at('done', 'Your password has been changed');

    // Not signed in by the reset: the link back leads to the password page of the waiting sign-in.
    await linkPage.getByRole('link', { name: 'Sign in' }).click();
    await linkPage.waitForURL(/\/password$/, { waitUntil: 'load' });
    await linkFlow.at('password-again', 'Enter your password');
    await linkPage.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
    await submit(linkPage, 'Sign in', (url) => url.href.startsWith(rp.callback));

    const tokens = await app.finish(linkPage.url(), request);
    expect(tokens.claims()?.sub).to.equal(user.id);
    expect(tokens.claims()?.amr).to.deep.equal(['pwd']);
    expect(tokens.claims()?.acr).to.equal(ACR_PWD);
    await context.close();
  });
});
