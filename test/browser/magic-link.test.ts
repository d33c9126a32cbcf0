import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { ACR_PWD, createUser, type RpServer } from '../interactions/support.ts';
import { expectContract } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { type SmtpMessage, waitForMailLink } from '../support/smtp.ts';
import { startMailFlowStack, stopMailFlowStack } from './mail-stack.ts';
import { FlowRecorder, newContext, type RelyingParty, submit } from './support.ts';

/**
 * Magic-link sign-in in a real browser: the link is mailed over SMTP to a listener in this test,
 * opened in the browser that asked, and the relying party (openid-client) validates the ID token
 * with `amr: ["email"]`. A link opened in another browser signs in neither browser.
 */
describe('browser: magic link', function () {
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

  async function askForLink(flow: FlowRecorder, email: string) {
    const { page } = flow;
    const request = await app.authorizationRequest();
    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByLabel('Email address').fill(email);
    await submit(page, 'Continue', /\/password$/);
    await flow.at('password', 'Enter your password');
    await submit(page, 'Email me a sign-in link', /\/magic-link$/);
    await flow.at('check-email', 'Check your email');
    return request;
  }

  it('signs in with the emailed link in the browser that asked; amr=email', async () => {
    const user = await createUser(t, { name: 'Grace Hopper' });
    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('magic-link', page);
    const request = await askForLink(flow, user.email);

    const link = await waitForMailLink(smtp.messages, user.email, '/login/magic-link');
    expect(new URL(link).origin).to.equal(new URL(t.url).origin);
    await page.goto(link);
    await flow.at('confirm', 'Sign in to InfraNotes');
    await submit(page, 'Sign in', (url) => url.href.startsWith(rp.callback));

    const tokens = await app.finish(page.url(), request);
    const claims = tokens.claims();
    expect(claims?.sub).to.equal(user.id);
    expect(claims?.amr).to.deep.equal(['email']);
    expect(claims?.acr).to.equal(ACR_PWD);
    expectContract('idToken', tokens.id_token as string);

    // The link is spent: opening it again explains, and signs nobody in.
    await page.goto(link);
    await flow.at('link-used', 'This sign-in link cannot be used');
    await context.close();
  });

  it('a link opened in another browser signs in neither browser', async () => {
    const user = await createUser(t);
    const asking = await newContext(browser);
    const askingPage = await asking.newPage();
    const flow = new FlowRecorder('magic-link-other-browser', askingPage);
    await askForLink(flow, user.email);
    const link = await waitForMailLink(smtp.messages, user.email, '/login/magic-link');

    const other = await newContext(browser);
    const otherPage = await other.newPage();
    const otherFlow = new FlowRecorder('magic-link-other-browser-b', otherPage);
    await otherPage.goto(link);
    await otherFlow.at('wrong-browser', 'Open this link in the browser where you asked for it');
    expect(await otherPage.getByRole('button', { name: 'Sign in' }).count()).to.equal(0);

    // The asking browser has no session: a new authorization request starts at the sign-in page.
    const again = await app.authorizationRequest();
    await askingPage.goto(again.url);
    await flow.at('not-signed-in', 'Sign in');
    expect(rp.hits.filter((h) => h.searchParams.get('state') === again.state)).to.have.length(0);
    const row = await t.service.db('one_time_tokens').where({ user_id: user.id, purpose: 'magic_link' }).first('consumed_at');
    expect(row.consumed_at).to.equal(null);
    await other.close();
    await asking.close();
  });
});
