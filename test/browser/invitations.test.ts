import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createUser, type RpServer } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';
import { type SmtpMessage, waitForMailLink } from '../support/smtp.ts';
import { call, createTenant, suffix, type TenantFixture } from '../tenancy/support.ts';
import { startMailFlowStack, stopMailFlowStack } from './mail-stack.ts';
import { FlowRecorder, newContext, type RelyingParty, submit } from './support.ts';

const PASSWORD = 'invited and joining with a passphrase 73';

/**
 * An invitation mailed over SMTP, opened in Chromium by someone without an account: the link
 * shows the invitation, "Accept" leads through sign-up (with email verification) and sign-in,
 * and the person ends as a member of the tenant with the invited roles.
 */
describe('browser: accepting an invitation', function () {
  this.timeout(180_000);
  let t: TestService;
  let rp: RpServer;
  let browser: Browser;
  let smtp: { url: string; messages: SmtpMessage[]; close(): Promise<void> };
  let tenant: TenantFixture;
  let app: RelyingParty;

  before(async () => {
    // Self sign-up stays off (the default): an invited person can still create an account.
    ({ smtp, t, rp, browser, app } = await startMailFlowStack({ IAM_AUTH_SELF_SIGNUP: 'false' }));
    tenant = await createTenant(t);
  });
  after(() => stopMailFlowStack({ browser, rp, t, smtp }));

  it('a new person signs up from the invitation link and joins with the invited role', async () => {
    const email = `invitee-${suffix()}@example.test`;
    const invited = await call(t, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: tenant.owner.token,
      body: { email, roles: [tenant.roles.viewer] },
    });
    expect(invited.status, JSON.stringify(invited.body)).to.equal(201);

    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('invitation', page);
    const link = await waitForMailLink(smtp.messages, email, '/invitations/accept');
    await page.goto(link);
    await flow.at('invitation', 'Join Tenant');
    await submit(page, 'Accept invitation', /\/identifier$/);
    await flow.at('identifier', 'Sign in');
    expect(await page.getByLabel('Email address').inputValue()).to.equal(email);

    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(/\/sign-up$/, { waitUntil: 'load' });
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Choose a password').fill(PASSWORD);
    await submit(page, 'Create account', /\/sign-up$/);
    await flow.at('check-email', 'Check your email');

    // The second mail to the address (the first was the invitation).
    const verify = await waitForMailLink(smtp.messages, email, '/email/verify', 2);
    await page.goto(verify);
    await submit(page, 'Confirm email address', /\/email\/verify$/);
    await flow.at('verified', 'Your email address is confirmed');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL(/\/identifier$/, { waitUntil: 'load' });
    await page.getByLabel('Email address').fill(email);
    await submit(page, 'Continue', /\/password$/);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await submit(page, 'Sign in', /\/invitations\/callback/);
    await flow.at('joined', 'You’ve joined Tenant');

    const db = t.service.db;
    const user = await db('users').where({ email }).first('id', 'status', 'email_verified_at');
    expect(user.status).to.equal('active');
    expect(user.email_verified_at).to.not.equal(null);
    expect(await db('memberships').where({ tenant_id: tenant.id, user_id: user.id }).first('status')).to.deep.equal({ status: 'active' });
    const roles = await db('scope_bindings as b')
      .join('roles as r', 'r.id', 'b.role_id')
      .where({ 'b.tenant_id': tenant.id, 'b.principal_type': 'user', 'b.principal_id': user.id, 'b.scope_type': 'tenant' })
      .pluck('r.key');
    expect(roles).to.deep.equal(['viewer']);
    expect(await db('invitations').where({ id: invited.body.id }).first('accepted_by')).to.deep.equal({ accepted_by: user.id });

    // The link is spent: opening it again says so.
    await page.goto(link);
    await flow.at('used', 'This invitation was already accepted');
    await context.close();
  });

  it('a member of two tenants picks one on the tenant page when signing in to an application', async () => {
    const second = await createTenant(t);
    const user = await createUser(t);
    const db = t.service.db;
    await db('tenants').where({ id: second.id }).update({ name: 'Second Tenant' });
    for (const id of [tenant.id, second.id]) await db('memberships').insert({ tenant_id: id, user_id: user.id, status: 'active' });

    const context = await newContext(browser);
    const page = await context.newPage();
    const flow = new FlowRecorder('tenant-picker', page);
    const request = await app.authorizationRequest();
    await page.goto(request.url);
    await flow.at('identifier', 'Sign in');
    await page.getByLabel('Email address').fill(user.email);
    await submit(page, 'Continue', /\/password$/);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await submit(page, 'Sign in', /\/tenant$/);
    await flow.at('picker', 'Choose a tenant');
    await submit(page, /Second Tenant/, (url) => url.href.startsWith(rp.callback));
    const tokens = await app.finish(page.url(), request);
    expect(tokens.claims()?.tid).to.equal(second.id);
    await context.close();
  });
});
