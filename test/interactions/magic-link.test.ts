import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { basic, form, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import {
  ACR_PWD,
  actionOf,
  authorizeUrl,
  callbackOf,
  createUser,
  csrfOf,
  enrolConfirmedTotp,
  type HttpResponse,
  normalizePage,
  UserAgent,
  webClient,
} from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/**
 * Magic-link sign-in over HTTP (mail through the development mailbox): no enumeration, single
 * use, bound to the browser that asked, GET never consumes, CSRF, request budget.
 */
describe('interactions: magic link', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService({ IAM_AUTH_IP_FREE_FAILURES: '100000', IAM_AUTH_MAGIC_LINK_FREE_REQUESTS: '3' });
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  /** Drives identifier → password page, returning the magic-link form on it. */
  async function passwordPage(email: string, ua = new UserAgent(t.url)) {
    const request = authorizeUrl(t, client, CALLBACK);
    const start = await ua.follow(await ua.get(request.url));
    const page = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email }));
    expect(page.url).to.match(/\/password$/);
    return { ua, page, request, action: actionOf(page.text, '/magic-link'), csrf: csrfOf(page.text) };
  }

  async function requestLink(email: string, ua = new UserAgent(t.url)) {
    const p = await passwordPage(email, ua);
    const response = await ua.post(p.action, { csrf: p.csrf });
    return { ...p, response };
  }

  const mails = (to: string) => t.service.db('dev_mailbox').where({ to }).orderBy('id').select('subject', 'text');

  /** The link of the newest mail to `to` (mail goes out after the response: poll). */
  async function linkFor(to: string, count = 1): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const rows = await mails(to);
      if (rows.length >= count) {
        const link = /(https?:\/\/\S+\/login\/magic-link\?token=[A-Za-z0-9_-]+)/.exec(rows[rows.length - 1]?.text ?? '')?.[1];
        if (link) return link;
      }
      await sleep(50);
    }
    throw new Error(`no magic link mailed to ${to}`);
  }

  const comparable = (r: HttpResponse) => ({
    status: r.status,
    contentType: r.headers.get('content-type'),
    cacheControl: r.headers.get('cache-control'),
    cookies: r.headers.getSetCookie().map((c) => c.replace(/=[^;]*/, '=X')),
  });

  it('known and unknown addresses get the same "check your email" answer; only the account gets mail', async () => {
    const user = await createUser(t);
    const unknown = `nobody-${Date.now()}@example.test`;
    const k = await requestLink(user.email);
    const u = await requestLink(unknown);
    expect(k.response.status).to.equal(200);
    expect(comparable(k.response)).to.deep.equal(comparable(u.response));
    expect(normalizePage(k.response.text, user.email)).to.equal(normalizePage(u.response.text, unknown));
    expect(k.response.text).to.include('Check your email');
    await linkFor(user.email);
    await sleep(200);
    expect(await mails(unknown)).to.have.length(0);
  });

  it('signs in the browser that asked, with amr ["email"]; GET never consumes; the link works once', async () => {
    const user = await createUser(t);
    const { ua, request } = await requestLink(user.email);
    const link = await linkFor(user.email);

    // A mail scanner (no cookies) and the user's own GETs leave the token usable.
    const scanner = await new UserAgent(t.url).get(link);
    expect(scanner.status).to.equal(403);
    const landing = await ua.get(link);
    expect(landing.status).to.equal(200);
    expect(landing.headers.get('referrer-policy')).to.equal('no-referrer');
    expect(landing.text).to.include(user.email);
    const again = await ua.get(link);
    expect(again.status).to.equal(200);

    const confirm = await ua.post(actionOf(landing.text, '/login/magic-link'), {
      csrf: csrfOf(landing.text),
      token: new URL(link).searchParams.get('token') as string,
    });
    expect(confirm.status, confirm.text.slice(0, 300)).to.equal(303);
    const callback = await callbackOf(ua, confirm);
    expect(callback.searchParams.get('state')).to.equal(request.state);
    const tokens = await form(
      `${t.url}/token`,
      {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') as string,
        code_verifier: request.verifier,
        redirect_uri: CALLBACK,
      },
      { authorization: basic(client) },
    );
    expect(tokens.status).to.equal(200);
    const idToken = decodeJwt(tokens.json.id_token as string);
    expect(idToken).to.include({ sub: user.id, acr: ACR_PWD });
    expect(idToken.amr).to.deep.equal(['email']);

    // Reuse: refused, on GET and on POST.
    const reuseGet = await ua.get(link);
    expect(reuseGet.status).to.equal(410);
    expect(reuseGet.text).to.include('cannot be used');
    const reusePost = await ua.post(actionOf(landing.text, '/login/magic-link'), {
      csrf: csrfOf(landing.text),
      token: new URL(link).searchParams.get('token') as string,
    });
    expect(reusePost.status).to.equal(410);
  });

  it('a link opened in another browser does not sign anyone in, and stays usable where it was asked', async () => {
    const user = await createUser(t);
    const { ua } = await requestLink(user.email);
    const link = await linkFor(user.email);
    const token = new URL(link).searchParams.get('token') as string;
    const other = new UserAgent(t.url);
    const otherGet = await other.get(link);
    expect(otherGet.status).to.equal(403);
    expect(otherGet.text).to.include('browser where you asked');
    // Even with a CSRF token lifted from the right browser's page, the other browser is refused.
    const landing = await ua.get(link);
    const otherPost = await other.post(actionOf(landing.text, '/login/magic-link'), { csrf: csrfOf(landing.text), token });
    expect(otherPost.status).to.equal(403);
    expect(otherPost.location).to.equal(null);
    const row = await t.service.db('one_time_tokens').where({ user_id: user.id, purpose: 'magic_link' }).first('consumed_at');
    expect(row.consumed_at).to.equal(null);
    // The browser that asked can still finish.
    const confirm = await ua.post(actionOf(landing.text, '/login/magic-link'), { csrf: csrfOf(landing.text), token });
    expect(confirm.status).to.equal(303);
  });

  it('an expired link is refused', async () => {
    const user = await createUser(t);
    const { ua } = await requestLink(user.email);
    const link = await linkFor(user.email);
    const landing = await ua.get(link);
    await t.service
      .db('one_time_tokens')
      .where({ user_id: user.id, purpose: 'magic_link' })
      .update({
        created_at: t.service.db.raw("now() - interval '11 minutes'"),
        expires_at: t.service.db.raw("now() - interval '1 minute'"),
      });
    const post = await ua.post(actionOf(landing.text, '/login/magic-link'), {
      csrf: csrfOf(landing.text),
      token: new URL(link).searchParams.get('token') as string,
    });
    expect(post.status).to.equal(410);
    expect((await ua.get(link)).status).to.equal(410);
  });

  it('a second factor the user has is still asked for after the link', async () => {
    const user = await createUser(t);
    await enrolConfirmedTotp(t, user);
    const { ua } = await requestLink(user.email);
    const link = await linkFor(user.email);
    const landing = await ua.get(link);
    const confirm = await ua.post(actionOf(landing.text, '/login/magic-link'), {
      csrf: csrfOf(landing.text),
      token: new URL(link).searchParams.get('token') as string,
    });
    const next = await ua.follow(confirm);
    expect(next.url).to.match(/\/totp$/);
  });

  it('CSRF token missing or wrong → 403, nothing sent or consumed', async () => {
    const user = await createUser(t);
    const p = await passwordPage(user.email);
    const missing = await p.ua.post(p.action, {});
    expect(missing.status).to.equal(403);
    const wrong = await p.ua.post(p.action, { csrf: 'A'.repeat(43) });
    expect(wrong.status).to.equal(403);
    await sleep(200);
    expect(await mails(user.email)).to.have.length(0);

    await p.ua.post(p.action, { csrf: p.csrf });
    const link = await linkFor(user.email);
    const token = new URL(link).searchParams.get('token') as string;
    const noCsrf = await p.ua.post(new URL(link).pathname, { token });
    expect(noCsrf.status).to.equal(403);
    const row = await t.service.db('one_time_tokens').where({ user_id: user.id, purpose: 'magic_link' }).first('consumed_at');
    expect(row.consumed_at).to.equal(null);
  });

  it('the request budget stops mail without telling: same page, no more links', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const answers: HttpResponse[] = [];
    for (let i = 0; i < 5; i++) answers.push((await requestLink(user.email, ua)).response);
    for (const a of answers) {
      expect(a.status).to.equal(200);
      expect(a.headers.get('retry-after')).to.equal(null);
      expect(normalizePage(a.text)).to.equal(normalizePage(answers[0]?.text ?? ''));
    }
    await linkFor(user.email, 3);
    await sleep(300);
    // 3 free requests (plus at most the one that starts the wait): the rest are answered, not sent.
    const sent = (await mails(user.email)).length;
    expect(sent).to.be.within(3, 4);
    const row = await t.service.db('audit_events').where({ action: 'one_time_token.issued', target_id: user.id }).count({ n: '*' }).first();
    expect(Number(row?.n)).to.equal(sent);
  });
});
