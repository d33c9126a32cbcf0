import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accountSessionKey } from '../../src/http/routes/account/index.ts';
import { refresh } from '../account/support.ts';
import { createUser, type RpServer, startRp, type TestUser, webClient } from '../interactions/support.ts';
import { fromBase32, totpAt } from '../mfa/support.ts';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import { freePort } from '../support/process.ts';
import type { TestService } from '../support/service.ts';
import { type SmtpMessage, startSmtp, waitForMailLink } from '../support/smtp.ts';
import { FlowRecorder, launchBrowser, newContext, pageWithAuthenticator, RelyingParty, submit } from './support.ts';

const NEW_PASSWORD = 'seven quiet lanterns over the harbour';
const NEWER_PASSWORD = 'a second passphrase for the harbour 8';

/**
 * Account self-service at /account in a real browser (Chromium with a virtual authenticator,
 * issuer on `localhost` so passkeys work), mail caught by a real SMTP listener, and openid-client
 * as a relying party whose grant the user finally revokes. Every page is screenshotted and
 * checked by axe-core and for CSP violations.
 */
describe('browser: account self-service', function () {
  this.timeout(300_000);
  let smtp: { url: string; messages: SmtpMessage[]; close(): Promise<void> };
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let client: TestClient;
  let app: RelyingParty;
  let issuer: string;

  before(async () => {
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    smtp = await startSmtp();
    [t, rp, browser] = await Promise.all([
      startOidcService({
        IAM_SERVER_HTTP_PORT: String(port),
        IAM_ISSUER: issuer,
        IAM_MAIL_SMTP_URL: smtp.url,
        IAM_AUTH_IP_FREE_FAILURES: '100000',
      }),
      startRp(),
      launchBrowser(),
    ]);
    client = await webClient(t, { firstParty: false, redirectUris: [rp.callback], name: 'Partner App' });
    app = await RelyingParty.discover(issuer, client, rp.callback);
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await t?.stop();
    await smtp?.close();
  });

  /** TOTP codes never reuse a step (the replay rule): each call gives the next unused step's code. */
  function totpCodes(secret: Buffer) {
    let last = 0;
    return async (): Promise<string> => {
      let step = Math.max(Math.floor(Date.now() / 1000 / 30), last + 1);
      // Only one step ahead is accepted: wait if that is not enough.
      while (step > Math.floor(Date.now() / 1000 / 30) + 1) {
        await new Promise((ok) => setTimeout(ok, 1000));
        step = Math.max(Math.floor(Date.now() / 1000 / 30), last + 1);
      }
      last = step;
      return totpAt(secret, step * 30);
    };
  }

  const nav = async (page: Page, link: string, path: RegExp) => {
    await Promise.all([
      page.waitForURL(path, { waitUntil: 'load' }),
      page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: link, exact: true }).click(),
    ]);
  };

  /** Makes this browser's account sign-in `age` seconds old (the recent-authentication rule then asks again). */
  async function ageSignIn(context: BrowserContext, age: number): Promise<void> {
    const cookie = (await context.cookies(issuer)).find((c) => c.name === 'iam-account');
    const key = accountSessionKey((cookie?.value ?? '').split('.')[0] ?? '');
    const record = JSON.parse((await t.service.store.get(key)) ?? '{}') as { authTime: number };
    record.authTime = Math.floor(Date.now() / 1000) - age;
    await t.service.store.set(key, JSON.stringify(record), 600_000);
  }

  /** Signs in on the identifier/password(/TOTP) pages the browser is on. */
  async function signInHere(page: Page, flow: FlowRecorder | undefined, user: TestUser, password: string, totp?: () => Promise<string>) {
    await flow?.at('sign-in', 'Sign in');
    if ((await page.getByLabel('Email address').inputValue()) !== user.email) await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await flow?.at('sign-in-password', 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill(password);
    if (!totp) return submit(page, 'Sign in', (url) => !url.pathname.endsWith('/password'));
    await submit(page, 'Sign in', /\/totp$/);
    await flow?.at('sign-in-totp', 'Enter your verification code');
    await page.getByLabel('Verification code').fill(await totp());
    await submit(page, 'Verify', (url) => !url.pathname.endsWith('/totp'));
  }

  it('manages the whole account: TOTP, recovery codes, passkeys, password, email, sessions and applications', async () => {
    const user = await createUser(t, { name: 'Katherine Johnson' });
    const { context, page, cdp, authenticatorId } = await pageWithAuthenticator(browser, { conditionalUi: false });
    const flow = new FlowRecorder('account', page);

    // A third-party application the user signs in to first (with a refresh token): consent, then the account pages.
    const request = await app.authorizationRequest({ scope: 'openid email profile offline_access', prompt: 'consent' });
    await page.goto(request.url);
    await signInHere(page, flow, user, user.password);
    await flow.at('consent', /Allow Partner App/);
    await submit(page, 'Allow', (url) => url.href.startsWith(rp.callback));
    const tokens = await app.finish(page.url(), request);
    expect(tokens.refresh_token, 'the application got a refresh token').to.be.a('string');

    // Signed in already: /account opens without another sign-in (the engine's session).
    await page.goto(`${issuer}/account`);
    await flow.at('overview', 'Your account');
    expect(await page.locator('main').textContent()).to.include(`Signed in as ${user.email}`);
    await page.setViewportSize({ width: 360, height: 740 });
    await flow.record('overview-narrow');
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).to.equal(true);
    await page.setViewportSize({ width: 1024, height: 800 });

    // Profile.
    await nav(page, 'Profile', /\/account\/profile$/);
    await flow.at('profile', 'Profile');
    await page.getByLabel('Family name').fill('Johnson');
    await submit(page, 'Save profile', /\/account\/profile\?done=profile_saved$/);
    await flow.at('profile-saved', 'Profile');
    expect(await page.getByRole('status').textContent()).to.include('Your profile was saved.');

    // TOTP: the QR code is rendered by the service; the manual key gives the codes.
    await nav(page, 'Two-step verification', /\/account\/two-step$/);
    await flow.at('two-step', 'Two-step verification');
    await submit(page, 'Set up an authenticator app', /\/account\/two-step\/totp\/setup$/);
    await flow.at('totp-setup', 'Set up your authenticator app');
    expect(await page.locator('.qr svg').count(), 'an inline SVG QR code').to.equal(1);
    const key = ((await page.locator('#manual-key').textContent()) ?? '').replace(/\s+/g, '');
    expect(key).to.match(/^[A-Z2-7]{32}$/);
    const nextCode = totpCodes(fromBase32(key));
    await page.getByLabel('Code from the app').fill('000000');
    await submit(page, 'Turn on', /\/account\/two-step\/totp\/confirm$/);
    await flow.at('totp-wrong-code', 'Set up your authenticator app');
    expect(await page.title()).to.match(/^Error: /);
    await page.getByLabel('Code from the app').fill(await nextCode());
    await submit(page, 'Turn on', /\/account\/two-step\/totp\/confirm$/);
    await flow.at('recovery-codes', 'Save your recovery codes');
    const firstCodes = await page.locator('.recovery-codes code').allTextContents();
    expect(firstCodes).to.have.length(10);
    await Promise.all([page.waitForURL(/\/account\/two-step$/), page.getByRole('link', { name: 'I have saved my codes' }).click()]);
    await flow.at('two-step-on', 'Two-step verification');
    await submit(page, 'Create new recovery codes', /\/account\/two-step\/recovery-codes$/);
    await flow.at('recovery-codes-new', 'Save your recovery codes');
    const secondCodes = await page.locator('.recovery-codes code').allTextContents();
    expect(secondCodes).to.have.length(10);
    expect(secondCodes.filter((c) => firstCodes.includes(c))).to.deep.equal([]);

    // Passkeys: register with the virtual authenticator through the bundled helper, rename, remove.
    await nav(page, 'Passkeys', /\/account\/passkeys$/);
    await flow.at('passkeys', 'Passkeys');
    await page.getByLabel('Name for the new passkey').fill('Virtual key');
    const add = page.getByRole('button', { name: 'Add a passkey' });
    await add.waitFor({ state: 'visible' });
    await Promise.all([page.waitForURL(/\/account\/passkeys\?done=passkey_added$/, { waitUntil: 'load' }), add.click()]);
    await flow.at('passkey-added', 'Passkeys');
    expect(await page.getByRole('heading', { level: 3, name: 'Virtual key' }).count()).to.equal(1);
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials).to.have.length(1);
    await page.getByLabel('New name for Virtual key').fill('Work laptop');
    await submit(page, 'Rename', /done=passkey_renamed$/);
    await flow.at('passkey-renamed', 'Passkeys');
    expect(await page.getByRole('heading', { level: 3, name: 'Work laptop' }).count()).to.equal(1);
    await submit(page, 'Remove Work laptop', /done=passkey_removed$/);
    await flow.at('passkey-removed', 'Passkeys');
    expect(await page.locator('main').textContent()).to.include('You have no passkeys yet.');

    // Password with a recent sign-in.
    await nav(page, 'Password', /\/account\/password$/);
    await flow.at('password', 'Change your password');
    await page.getByLabel('Current password').fill(user.password);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await submit(page, 'Change password', /\/account\?done=password_changed$/);
    await flow.at('password-changed', 'Your account');

    // The sign-in gets old: the password page sends the browser through a fresh sign-in first (with TOTP now).
    await ageSignIn(context, 400);
    await Promise.all([
      page.waitForURL(/\/identifier$/, { waitUntil: 'load' }),
      page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Password', exact: true }).click(),
    ]);
    expect(await page.getByLabel('Email address').inputValue(), 'the address is hinted').to.equal(user.email);
    await signInHere(page, flow, user, NEW_PASSWORD, nextCode);
    await page.waitForURL(/\/account\/password$/, { waitUntil: 'load' });
    await flow.at('password-after-reauth', 'Change your password');
    await page.getByLabel('Current password').fill(NEW_PASSWORD);
    await page.getByLabel('New password').fill(NEWER_PASSWORD);
    await submit(page, 'Change password', /\/account\?done=password_changed$/);
    expect((await smtp.messages.filter((m) => m.to.some((r) => r.includes(user.email)))).length).to.be.at.least(2);

    // Email change: the link goes to the new address; the old one is told afterwards.
    const newEmail = `katherine-${Date.now()}@example.test`;
    await nav(page, 'Email address', /\/account\/email$/);
    await flow.at('email', 'Change your email address');
    await page.getByLabel('New email address').fill(newEmail);
    await submit(page, 'Send confirmation link', /\/account\/email$/);
    await flow.at('email-sent', 'Check your new inbox');
    const link = await waitForMailLink(smtp.messages, newEmail, '/email/change/confirm');
    const linkPage = await context.newPage();
    const linkFlow = new FlowRecorder('account-email-link', linkPage);
    await linkPage.goto(link);
    await linkFlow.at('confirm', 'Confirm your new email address');
    await submit(linkPage, 'Confirm new email address', /\/email\/change\/confirm$/);
    await linkFlow.at('done', 'Your email address has been changed');
    await linkPage.goto(link);
    await linkFlow.at('reused', 'This confirmation link cannot be used');
    await linkPage.close();
    const changedUser = { ...user, email: newEmail };
    expect(
      smtp.messages.some((m) => m.to.some((r) => r.includes(user.email)) && m.data.includes('your email address was changed')),
    ).to.equal(true);

    // Sessions: a second browser signs in; the first one ends it.
    const other = await newContext(browser);
    await other.addInitScript('PublicKeyCredential.isConditionalMediationAvailable = async () => false;');
    const otherPage = await other.newPage();
    const otherFlow = new FlowRecorder('account-second-browser', otherPage);
    await otherPage.goto(`${issuer}/account`);
    await signInHere(otherPage, undefined, changedUser, NEWER_PASSWORD, nextCode);
    await otherPage.waitForURL(`${issuer}/account`, { waitUntil: 'load' });
    await otherFlow.at('overview', 'Your account');

    await nav(page, 'Sessions', /\/account\/sessions$/);
    await flow.at('sessions', 'Where you are signed in');
    const items = page.locator('main .items > li');
    expect(await items.count()).to.equal(2);
    expect(await items.first().textContent()).to.include('This browser');
    expect(await items.nth(1).textContent()).to.include('HeadlessChrome');
    await submit(page, 'Sign out this session', /done=session_revoked$/);
    await flow.at('session-revoked', 'Where you are signed in');
    expect(await page.locator('main .items > li').count()).to.equal(1);
    await otherPage.goto(`${issuer}/account`);
    await otherPage.waitForURL(/\/identifier$/, { waitUntil: 'load' });
    await otherFlow.at('signed-out', 'Sign in');
    await other.close();

    // Applications: the partner app is listed; removing its access kills its refresh token.
    await nav(page, 'Applications', /\/account\/apps$/);
    await flow.at('apps', 'Applications with access');
    expect(await page.getByRole('heading', { level: 3, name: 'Partner App' }).count()).to.equal(1);
    expect((await refresh(t, client, tokens.refresh_token as string)).status, 'works before').to.equal(200);
    await submit(page, 'Remove access Partner App', /done=app_revoked$/);
    await flow.at('apps-revoked', 'Applications with access');
    expect(await page.locator('main').textContent()).to.include('No application has access to your account.');
    const denied = await refresh(t, client, tokens.refresh_token as string);
    expect(denied.error).to.equal('invalid_grant');

    // Sign out everywhere: this browser too.
    await nav(page, 'Sessions', /\/account\/sessions$/);
    await submit(page, 'Sign out everywhere', /\/account\/sessions\/sign-out-everywhere$/);
    await flow.at('signed-out-everywhere', 'You are signed out');
    expect(await t.service.db('oidc_models').where({ model: 'Session', account_id: user.id }).count({ n: '*' }).first()).to.deep.equal({
      n: 0,
    });
    await page.goto(`${issuer}/account`);
    await page.waitForURL(/\/identifier$/, { waitUntil: 'load' });
    await context.close();
  });
});
