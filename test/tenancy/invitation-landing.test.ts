import { expect } from 'chai';
import type { AppError } from '../../src/errors/index.ts';
import { ensureInvitationClient, INVITATION_CLIENT_ID } from '../../src/tenancy/index.ts';
import {
  actionOf,
  authorizeUrl,
  createUser,
  csrfOf,
  type HttpResponse,
  normalizePage,
  type TestUser,
  UserAgent,
} from '../interactions/support.ts';
import { startOidcService } from '../oidc/support.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import type { TestService } from '../support/service.ts';
import { call, count, createTenant, type TenantFixture } from './support.ts';

/**
 * Accepting an emailed invitation in the browser, over HTTP (the new-account path through
 * sign-up runs in Chromium: test/browser/invitations.test.ts): the link shows the invitation, its
 * button signs the person in through the ordinary sign-in pages, and the callback accepts for
 * the account that signed in — or explains why not and changes nothing.
 */
describe('invitations: acceptance in the browser (HTTP)', function () {
  this.timeout(120_000);
  let t: TestService;
  let tenant: TenantFixture;

  before(async () => {
    t = await startOidcService();
    tenant = await createTenant(t);
    await t.service.db('users').where({ id: tenant.owner.id }).update({ display_name: 'Olive Owner' });
  });
  after(async () => {
    await t?.stop();
  });

  /** Invites `email` with the admin role; returns the link mailed (development mailbox). */
  async function invite(email: string): Promise<{ id: string; link: string }> {
    const res = await call(t, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: tenant.owner.token,
      body: { email, roles: [tenant.roles.admin] },
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const mail = await t.service.db('dev_mailbox').where({ to: email }).orderBy('id', 'desc').first('text');
    const link = /(https?:\/\/\S+\/invitations\/accept\?token=[A-Za-z0-9_-]+)/.exec(mail?.text ?? '')?.[1];
    if (!link) throw new Error(`no invitation link mailed to ${email}`);
    return { id: res.body.id as string, link };
  }

  /** Identifier and password pages of the sign-in the invitation started. */
  async function signInAs(ua: UserAgent, page: HttpResponse, user: TestUser): Promise<HttpResponse> {
    expect(page.url).to.match(/\/identifier$/);
    const id = await ua.post(actionOf(page.text, '/identifier'), { csrf: csrfOf(page.text), email: user.email });
    const pw = await ua.follow(id);
    expect(pw.url).to.match(/\/password$/);
    return ua.follow(await ua.post(actionOf(pw.text, '/password'), { csrf: csrfOf(pw.text), password: user.password }));
  }

  const accepted = async (invitationId: string) =>
    (await t.service.db('invitations').where({ id: invitationId }).first('accepted_at', 'accepted_by')) as {
      accepted_at: Date | null;
      accepted_by: string | null;
    };

  it('an existing account: the link shows the invitation, signing in accepts it with the invited roles', async () => {
    const user = await createUser(t);
    const { id, link } = await invite(user.email);
    const ua = new UserAgent(t.url);
    const landing = await ua.get(link);
    expect(landing.status).to.equal(200);
    expect(landing.text).to.include('Join Tenant');
    expect(landing.text).to.include('Olive Owner invited you to join Tenant');
    expect(landing.text).to.include(user.email);
    expect(landing.headers.get('content-security-policy')).to.include("frame-ancestors 'none'");
    // Showing the invitation consumes nothing.
    expect((await accepted(id)).accepted_at).to.equal(null);

    const start = await ua.post(actionOf(landing.text, '/invitations/accept'), {
      csrf: csrfOf(landing.text),
      token: new URL(link).searchParams.get('token') as string,
    });
    expect(start.status).to.equal(303);
    expect(start.location).to.include('/authorize?');
    expect(new URL(start.location as string).searchParams.get('login_hint')).to.equal(user.email);
    const identifier = await ua.follow(start);
    expect(identifier.text).to.include(`value="${user.email}"`);
    const done = await signInAs(ua, identifier, user);
    expect(done.status).to.equal(200);
    expect(new URL(done.url).pathname).to.equal('/invitations/callback');
    expect(done.text).to.include('You’ve joined Tenant');

    expect((await accepted(id)).accepted_by).to.equal(user.id);
    expect(await count(t.service.db, 'memberships', { tenant_id: tenant.id, user_id: user.id, status: 'active' })).to.equal(1);
    expect(
      await count(t.service.db, 'scope_bindings', { tenant_id: tenant.id, principal_id: user.id, role_id: tenant.roles.admin }),
    ).to.equal(1);
    const actions = await t.service.db('audit_events').where({ tenant_id: tenant.id, actor_id: user.id }).pluck('action');
    expect(actions).to.include.members(['invitation.accepted', 'membership.added', 'authz.binding.created']);

    // The callback cannot be replayed, and the link is used up.
    expect((await ua.get(done.url)).status).to.equal(400);
    const again = await ua.get(link);
    expect(again.status).to.equal(410);
    expect(again.text).to.include('already accepted');
  });

  it('signed in as someone else: a clear refusal that changes nothing, then signing in as the invited account accepts', async () => {
    const invited = await createUser(t);
    const other = await createUser(t);
    const { id, link } = await invite(invited.email);
    const ua = new UserAgent(t.url);
    // A session as the other account (through any invitation sign-in: here, a second invitation's).
    const { link: otherLink } = await invite(other.email);
    const otherLanding = await ua.get(otherLink);
    const otherStart = await ua.follow(
      await ua.post(actionOf(otherLanding.text, '/invitations/accept'), {
        csrf: csrfOf(otherLanding.text),
        token: new URL(otherLink).searchParams.get('token') as string,
      }),
    );
    expect((await signInAs(ua, otherStart, other)).text).to.include('You’ve joined');

    const landing = await ua.get(link);
    const start = await ua.follow(
      await ua.post(actionOf(landing.text, '/invitations/accept'), {
        csrf: csrfOf(landing.text),
        token: new URL(link).searchParams.get('token') as string,
      }),
    );
    // The invited address is not the session's: the account chooser asks first.
    expect(start.url).to.match(/\/select-account$/);
    const refused = await ua.follow(
      await ua.post(actionOf(start.text, '/select-account'), { csrf: csrfOf(start.text), decision: 'continue' }),
    );
    expect(refused.status).to.equal(403);
    expect(refused.text).to.include('This invitation is for another account');
    expect(refused.text).to.include(`sent to ${invited.email}, but you signed in as ${other.email}`);
    expect((await accepted(id)).accepted_at).to.equal(null);
    expect(await count(t.service.db, 'memberships', { tenant_id: tenant.id, user_id: invited.id })).to.equal(0);

    // "Sign in with <invited>": a fresh sign-in, then the invitation is accepted.
    const retry = await ua.follow(
      await ua.post(actionOf(refused.text, '/invitations/accept'), {
        csrf: csrfOf(refused.text),
        token: new URL(link).searchParams.get('token') as string,
        again: '1',
      }),
    );
    // The engine first signs the other account out of this browser (its auto-submitted form).
    const logout = await signInAs(ua, retry, invited);
    const action = /<form method="post" action="([^"]+)"/.exec(logout.text)?.[1] as string;
    expect(new URL(action).pathname).to.equal('/logout/confirm');
    const fields = Object.fromEntries(
      [...logout.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const done = await ua.follow(await ua.post(action, fields as Record<string, string>));
    expect(done.text).to.include('You’ve joined Tenant');
    expect((await accepted(id)).accepted_by).to.equal(invited.id);
  });

  it('self sign-up off: the invitations client creates an account only for an address with a live invitation', async () => {
    const invited = `new-${Date.now()}@example.test`;
    await invite(invited);
    const callback = `${t.service.config.issuer}/invitations/callback`;
    const client = { client_id: INVITATION_CLIENT_ID, client_secret: '' };
    /** Sign-up page of an authorization request made directly (not from the landing page) with `hint`. */
    const signUpPage = async (hint: string) => {
      const ua = new UserAgent(t.url);
      const identifier = await ua.follow(await ua.get(authorizeUrl(t, client, callback, { login_hint: hint, scope: 'openid' }).url));
      expect(identifier.url, identifier.url).to.match(/\/identifier$/);
      const page = await ua.get(identifier.url.replace(/identifier$/, 'sign-up'));
      expect(page.status).to.equal(200);
      return { ua, page };
    };
    const signUp = async (hint: string, email: string) => {
      const { ua, page } = await signUpPage(hint);
      const res = await ua.post(actionOf(page.text, '/sign-up'), {
        csrf: csrfOf(page.text),
        email,
        password: 'a long enough passphrase 7781',
      });
      expect(res.status).to.equal(200);
      return res;
    };
    const userRow = async (email: string) => t.service.db('users').whereRaw('lower(email) = lower(?)', [email]).first('id', 'status');
    const settle = () => new Promise((r) => setTimeout(r, 400));

    // An address nobody invited, as hint and as the address: the same page, no account.
    const stranger = `stranger-${Date.now()}@example.test`;
    const refused = await signUp(stranger, stranger);
    // An invited hint does not cover another address.
    const other = `other-${Date.now()}@example.test`;
    const swapped = await signUp(invited, other);
    // The invited address itself: a pending account, activated by its verification link.
    const ok = await signUp(invited, invited);
    await settle();
    expect(await userRow(stranger)).to.equal(undefined);
    expect(await userRow(other)).to.equal(undefined);
    expect(await userRow(invited)).to.include({ status: 'disabled' });
    // Nothing on the page tells the three apart.
    const body = (r: HttpResponse, email: string) => normalizePage(r.text, email);
    expect(body(refused, stranger)).to.equal(body(ok, invited));
    expect(body(swapped, other)).to.equal(body(ok, invited));
  });

  it('refuses forged and stale requests: bad link 404, revoked 410, no CSRF 403, a callback without its cookie 400', async () => {
    const ua = new UserAgent(t.url);
    const bogus = await ua.get(`${t.url}/invitations/accept?token=${'A'.repeat(43)}`);
    expect(bogus.status).to.equal(404);
    expect(bogus.text).to.include('This invitation link is not valid');
    expect((await ua.get(`${t.url}/invitations/accept?token=<script>`)).status).to.equal(404);

    const user = await createUser(t);
    const { id, link } = await invite(user.email);
    const token = new URL(link).searchParams.get('token') as string;
    const landing = await ua.get(link);
    // No CSRF token, or one for another link: nothing starts.
    expect((await ua.post(`${t.url}/invitations/accept`, { token })).status).to.equal(403);
    const start = await ua.post(actionOf(landing.text, '/invitations/accept'), { csrf: csrfOf(landing.text), token });
    expect(start.status).to.equal(303);

    // Another browser cannot finish this one's acceptance with a stolen callback URL.
    const stranger = new UserAgent(t.url);
    const state = new URL(start.location as string).searchParams.get('state') as string;
    const stolen = await stranger.get(`${t.url}/invitations/callback?state=${state}&code=abcdefghijklmnopqrstuvwxyz`);
    expect(stolen.status).to.equal(400);

    const revoke = await call(t, 'DELETE', `/v1/tenants/${tenant.id}/invitations/${id}`, { token: tenant.owner.token });
    expect(revoke.status, JSON.stringify(revoke.body)).to.equal(204);
    const revoked = await ua.get(link);
    expect(revoked.status).to.equal(410);
    expect(revoked.text).to.include('This invitation was withdrawn');
    // Signing in now changes nothing either.
    const done = await signInAs(ua, await ua.follow(start), user);
    expect(done.status).to.equal(410);
    expect(await count(t.service.db, 'memberships', { tenant_id: tenant.id, user_id: user.id })).to.equal(0);
  });
});

describe('invitations: the first-party client of acceptance', function () {
  this.timeout(60_000);
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase({ migrate: true });
  });
  after(async () => {
    await database?.drop();
  });

  it('is created once, follows the issuer, and refuses an issuer that cannot be a redirect URI', async () => {
    const first = await ensureInvitationClient(database.db, 'https://id.example.test/base/');
    expect(first).to.deep.include({ client_id: INVITATION_CLIENT_ID, first_party: true, token_endpoint_auth_method: 'none' });
    expect(first.redirect_uris).to.deep.equal(['https://id.example.test/base/invitations/callback']);
    expect(first.allowed_scopes).to.deep.equal(['openid']);
    expect((await ensureInvitationClient(database.db, 'https://id.example.test/base')).version).to.equal(first.version);
    const moved = await ensureInvitationClient(database.db, 'https://login.example.test');
    expect(moved.redirect_uris).to.deep.equal(['https://login.example.test/invitations/callback']);
    const changes = await database.db('audit_events').where({ target_id: INVITATION_CLIENT_ID }).orderBy('chain_seq').pluck('action');
    expect(changes).to.deep.equal(['client.created', 'client.updated']);
    const refused = await ensureInvitationClient(database.db, 'http://id.example.test').catch((e: unknown) => e);
    expect((refused as AppError).code).to.equal('validation_failed');
  });
});
