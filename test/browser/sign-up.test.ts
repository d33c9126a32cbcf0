import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import type { RpServer } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';
import { type SmtpMessage, waitForMailLink } from '../support/smtp.ts';
import { startMailFlowStack, stopMailFlowStack } from './mail-stack.ts';
import { FlowRecorder, newContext, type RelyingParty, submit } from './support.ts';

const PASSWORD = 'my own new passphrase for joining 58';

/** Self sign-up (enabled by `auth.self_signup`) with email verification over SMTP, then sign-in. */
describe('browser: self sign-up', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let app: RelyingParty;
  let smtp: { url: string; messages: SmtpMessage[]; close(): Promise<void> };

  before(async () => {
    ({ smtp, t, rp, browser, app } = await startMailFlowStack({ IAM_AUTH_SELF_SIGNUP: 'true' }));
  });
  after(() => stopMailFlowStack({ browser, rp, t, smtp }));

  it('creates an account, verifies the address by emailed link, then signs in', async () => {
    const email = `joiner-${Date.now()}@example.test`;
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('sign-up', page);
    const request = await app.authorizationRequest();

    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(/\/sign-up$/, { waitUntil: 'load' });
    await flow.at('form', 'Create your account');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Choose a password').fill(PASSWORD);
    await submit(page, 'Create account', /\/sign-up$/);
    await flow.at('check-email', 'Check your email');

    const link = await waitForMailLink(smtp.messages, email, '/email/verify');
    await page.goto(link);
    await flow.at('verify', 'Confirm your email address');
    await submit(page, 'Confirm email address', /\/email\/verify$/);
    await flow.at('verified', 'Your email address is confirmed');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(/\/identifier$/, { waitUntil: 'load' });
    await page.getByLabel('Email address').fill(email);
    await submit(page, 'Continue', /\/password$/);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await submit(page, 'Sign in', (url) => url.href.startsWith(rp.callback));

    const tokens = await app.finish(page.url(), request);
    const user = await t.service.db('users').where({ email }).first('id', 'status');
    expect(user.status).to.equal('active');
    expect(tokens.claims()?.sub).to.equal(user.id);
    expect(tokens.claims()?.amr).to.deep.equal(['pwd']);
    await context.close();
  });
});
