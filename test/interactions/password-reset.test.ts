import { expect } from 'chai';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import {
  actionOf,
  authorizeUrl,
  callbackOf,
  createUser,
  csrfOf,
  enrolConfirmedTotp,
  normalizePage,
  passwordSignIn,
  UserAgent,
  webClient,
} from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const NEW_PASSWORD = 'a brand new passphrase for the reset 97';
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Password reset over HTTP (mail through the development mailbox). */
describe('interactions: password reset', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService({ IAM_AUTH_IP_FREE_FAILURES: '100000' });
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  /** identifier → password page → "Forgot your password?" → request for `email`. */
  async function requestReset(email: string, ua = new UserAgent(t.url)) {
    const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    const pw = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email }));
    const href = /href="([^"]+\/forgot-password)"/.exec(pw.text)?.[1] as string;
    expect(href, 'forgot-password link on the password page').to.be.a('string');
    const form = await ua.get(href);
    expect(form.status).to.equal(200);
    const response = await ua.post(actionOf(form.text, '/forgot-password'), { csrf: csrfOf(form.text), email });
    return { ua, form, response };
  }

  const mails = (to: string) => t.service.db('dev_mailbox').where({ to }).orderBy('id').select('text');

  async function linkFor(to: string, count = 1): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const rows = await mails(to);
      const link = /(https?:\/\/\S+\/password\/reset\?token=[A-Za-z0-9_-]+)/.exec(rows[count - 1]?.text ?? '')?.[1];
      if (link) return link;
      await sleep(50);
    }
    throw new Error(`no reset link mailed to ${to}`);
  }

  const tokenOf = (link: string) => new URL(link).searchParams.get('token') as string;

  it('known and unknown addresses get the same answer; only the account gets mail', async () => {
    const user = await createUser(t);
    const unknown = `nobody-${Date.now()}@example.test`;
    const k = await requestReset(user.email);
    const u = await requestReset(unknown);
    expect(k.response.status).to.equal(200);
    expect(u.response.status).to.equal(k.response.status);
    expect(normalizePage(k.response.text, user.email)).to.equal(normalizePage(u.response.text, unknown));
    await linkFor(user.email);
    await sleep(200);
    expect(await mails(unknown)).to.have.length(0);
  });

  it('resets the password without signing in; policy errors keep the link; the link works once', async () => {
    const user = await createUser(t);
    const { ua } = await requestReset(user.email);
    const link = await linkFor(user.email);
    // A magic link outstanding before the reset dies with it.
    await t.service.db('one_time_tokens').insert({
      purpose: 'magic_link',
      token_hash: Buffer.alloc(32, 7),
      user_id: user.id,
      email: user.email,
      context: '{}',
      expires_at: t.service.db.raw("now() + interval '5 minutes'"),
    });

    const other = new UserAgent(t.url); // reset links work from any device
    const page = await other.get(link);
    expect(page.status).to.equal(200);
    expect(page.headers.get('referrer-policy')).to.equal('no-referrer');
    const action = actionOf(page.text, '/password/reset');
    const weak = await other.post(action, { csrf: csrfOf(page.text), token: tokenOf(link), password: 'short' });
    expect(weak.status).to.equal(400);
    expect(weak.text).to.include('Use at least 15 characters');
    expect(weak.text).to.include('aria-invalid="true"');

    const done = await other.post(action, { csrf: csrfOf(page.text), token: tokenOf(link), password: NEW_PASSWORD });
    expect(done.status, done.text.slice(0, 400)).to.equal(200);
    expect(done.text).to.include('Your password has been changed');
    expect(done.headers.getSetCookie().filter((c) => /^_session/.test(c))).to.deep.equal([]);
    const open = await t.service.db('one_time_tokens').where({ user_id: user.id }).whereNull('consumed_at').count({ n: '*' }).first();
    expect(Number(open?.n)).to.equal(0);

    // Reuse: refused.
    const reuse = await other.post(action, { csrf: csrfOf(page.text), token: tokenOf(link), password: `${NEW_PASSWORD} again` });
    expect(reuse.status).to.equal(410);
    expect((await other.get(link)).status).to.equal(410);

    // The old password is gone, the new one signs in (in the browser that asked, through its interaction).
    const old = await passwordSignIn(new UserAgent(t.url), authorizeUrl(t, client, CALLBACK).url, user.email, user.password);
    expect(old.response.status).to.equal(400);
    const fresh = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, NEW_PASSWORD);
    expect(fresh.response.status).to.equal(303);
    expect((await callbackOf(ua, fresh.response)).searchParams.get('code')).to.be.a('string');
  });

  it('an expired reset link is refused', async () => {
    const user = await createUser(t);
    await requestReset(user.email);
    const link = await linkFor(user.email);
    const ua = new UserAgent(t.url);
    const page = await ua.get(link);
    await t.service
      .db('one_time_tokens')
      .where({ user_id: user.id, purpose: 'password_reset' })
      .update({
        created_at: t.service.db.raw("now() - interval '31 minutes'"),
        expires_at: t.service.db.raw("now() - interval '1 minute'"),
      });
    const post = await ua.post(actionOf(page.text, '/password/reset'), {
      csrf: csrfOf(page.text),
      token: tokenOf(link),
      password: NEW_PASSWORD,
    });
    expect(post.status).to.equal(410);
    expect(post.text).to.include('This reset link cannot be used');
    expect((await ua.get(link)).status).to.equal(410);
  });

  it('does not bypass MFA: after a reset the second factor is still asked for', async () => {
    const user = await createUser(t);
    await enrolConfirmedTotp(t, user);
    await requestReset(user.email);
    const link = await linkFor(user.email);
    const ua = new UserAgent(t.url);
    const page = await ua.get(link);
    const done = await ua.post(actionOf(page.text, '/password/reset'), {
      csrf: csrfOf(page.text),
      token: tokenOf(link),
      password: NEW_PASSWORD,
    });
    expect(done.status).to.equal(200);
    const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, NEW_PASSWORD);
    expect(response.status).to.equal(303);
    expect(response.location).to.match(/\/totp$/);
  });

  it('CSRF token missing → 403 on the request and on the reset form; nothing sent or changed', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    const pw = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email: user.email }));
    const form = await ua.get(/href="([^"]+\/forgot-password)"/.exec(pw.text)?.[1] as string);
    const missing = await ua.post(actionOf(form.text, '/forgot-password'), { email: user.email });
    expect(missing.status).to.equal(403);
    await sleep(200);
    expect(await mails(user.email)).to.have.length(0);

    await requestReset(user.email, ua);
    const link = await linkFor(user.email);
    const noCsrf = await ua.post(new URL(link).pathname, { token: tokenOf(link), password: NEW_PASSWORD });
    expect(noCsrf.status).to.equal(403);
    const wrongSite = await ua.post(
      new URL(link).pathname,
      { csrf: csrfOf((await ua.get(link)).text), token: tokenOf(link), password: NEW_PASSWORD },
      { 'sec-fetch-site': 'cross-site' },
    );
    expect(wrongSite.status).to.equal(403);
    const row = await t.service.db('one_time_tokens').where({ user_id: user.id, purpose: 'password_reset' }).first('consumed_at');
    expect(row.consumed_at).to.equal(null);
  });
});
