import { expect } from 'chai';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { actionOf, authorizeUrl, callbackOf, createUser, csrfOf, normalizePage, passwordSignIn, UserAgent, webClient } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const PASSWORD = 'my own new passphrase for signing up 31';
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe('interactions: self sign-up', function () {
  this.timeout(120_000);

  describe('off by default', () => {
    let t: TestService;
    let client: TestClient;
    before(async () => {
      t = await startOidcService();
      client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
    });
    after(async () => {
      await t?.stop();
    });

    it('offers no sign-up and refuses the page', async () => {
      const ua = new UserAgent(t.url);
      const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
      expect(start.text).not.to.include('Create an account');
      const page = await ua.get(start.url.replace(/\/identifier$/, '/sign-up'));
      expect(page.status).to.equal(303);
    });
  });

  describe('with auth.self_signup', () => {
    let t: TestService;
    let client: TestClient;
    before(async () => {
      t = await startOidcService({ IAM_AUTH_SELF_SIGNUP: 'true', IAM_AUTH_IP_FREE_FAILURES: '100000' });
      client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
    });
    after(async () => {
      await t?.stop();
    });

    async function signUpForm(ua = new UserAgent(t.url)) {
      const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
      const href = /href="([^"]+\/sign-up)"/.exec(start.text)?.[1] as string;
      expect(href, 'sign-up link on the identifier page').to.be.a('string');
      const form = await ua.get(href);
      expect(form.status).to.equal(200);
      return { ua, form, action: actionOf(form.text, '/sign-up'), csrf: csrfOf(form.text) };
    }

    const mails = (to: string) => t.service.db('dev_mailbox').where({ to }).orderBy('id').select('text');
    async function linkFor(to: string): Promise<string> {
      for (let i = 0; i < 100; i++) {
        const rows = await mails(to);
        const link = /(https?:\/\/\S+\/email\/verify\?token=[A-Za-z0-9_-]+)/.exec(rows[0]?.text ?? '')?.[1];
        if (link) return link;
        await sleep(50);
      }
      throw new Error(`no verification link mailed to ${to}`);
    }

    it('policy errors on the page; same answer for a taken address; pending until verified; then sign-in works', async () => {
      const email = `new-${Date.now()}@example.test`;
      const f = await signUpForm();
      const weak = await f.ua.post(f.action, { csrf: f.csrf, email, password: 'short' });
      expect(weak.status).to.equal(400);
      expect(weak.text).to.include('Use at least 15 characters');

      const created = await f.ua.post(f.action, { csrf: f.csrf, email, password: PASSWORD });
      const taken = await createUser(t, { email: `taken-${Date.now()}@example.test` });
      const g = await signUpForm();
      const again = await g.ua.post(g.action, { csrf: g.csrf, email: taken.email, password: PASSWORD });
      expect(created.status).to.equal(200);
      expect(again.status).to.equal(200);
      expect(normalizePage(created.text, email)).to.equal(normalizePage(again.text, taken.email));

      const link = await linkFor(email);
      await sleep(200);
      expect(await mails(taken.email)).to.have.length(0);
      const user = await t.service.db('users').where({ email }).first('id', 'status', 'email_verified_at');
      expect(user).to.include({ status: 'disabled', email_verified_at: null });
      // Not usable before the address is verified.
      const early = await passwordSignIn(new UserAgent(t.url), authorizeUrl(t, client, CALLBACK).url, email, PASSWORD);
      expect(early.response.status).to.equal(400);

      const ua = new UserAgent(t.url);
      const page = await ua.get(link);
      expect(page.status).to.equal(200);
      const done = await ua.post(actionOf(page.text, '/email/verify'), {
        csrf: csrfOf(page.text),
        token: new URL(link).searchParams.get('token') as string,
      });
      expect(done.status).to.equal(200);
      expect(done.text).to.include('Your email address is confirmed');
      const verified = await t.service.db('users').where({ id: user.id }).first('status', 'email_verified_at', 'profile');
      expect(verified.status).to.equal('active');
      expect(verified.email_verified_at).to.be.instanceOf(Date);
      expect(verified.profile).to.deep.equal({});
      const reuse = await ua.post(actionOf(page.text, '/email/verify'), {
        csrf: csrfOf(page.text),
        token: new URL(link).searchParams.get('token') as string,
      });
      expect(reuse.status).to.equal(410);

      const signIn = await passwordSignIn(new UserAgent(t.url), authorizeUrl(t, client, CALLBACK).url, email, PASSWORD);
      expect(signIn.response.status).to.equal(303);
      const cb = new UserAgent(t.url);
      const { response } = await passwordSignIn(cb, authorizeUrl(t, client, CALLBACK).url, email, PASSWORD);
      expect((await callbackOf(cb, response)).searchParams.get('code')).to.be.a('string');
    });

    it('an address someone else signed up with stays the mailbox owner’s: a password reset takes it back', async () => {
      const email = `victim-${Date.now()}@example.test`;
      const f = await signUpForm();
      await f.ua.post(f.action, { csrf: f.csrf, email, password: PASSWORD });
      await linkFor(email); // the verification mail goes to the owner, who ignores it
      // The owner asks for a reset from the sign-in pages.
      const ua = new UserAgent(t.url);
      const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
      const pw = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email }));
      const form = await ua.get(/href="([^"]+\/forgot-password)"/.exec(pw.text)?.[1] as string);
      await ua.post(actionOf(form.text, '/forgot-password'), { csrf: csrfOf(form.text), email });
      let link: string | undefined;
      for (let i = 0; i < 100 && !link; i++) {
        const rows = await mails(email);
        link = /(https?:\/\/\S+\/password\/reset\?token=[A-Za-z0-9_-]+)/.exec(rows.map((r) => r.text).join('\n'))?.[1];
        if (!link) await sleep(50);
      }
      expect(link, 'reset link').to.be.a('string');
      const owners = 'the owner chose this passphrase 2024 xyz';
      const page = await ua.get(link as string);
      const done = await ua.post(actionOf(page.text, '/password/reset'), {
        csrf: csrfOf(page.text),
        token: new URL(link as string).searchParams.get('token') as string,
        password: owners,
      });
      expect(done.status).to.equal(200);
      const user = await t.service.db('users').where({ email }).first('status', 'email_verified_at');
      expect(user.status).to.equal('active');
      expect(user.email_verified_at).to.be.instanceOf(Date);
      const squatter = await passwordSignIn(new UserAgent(t.url), authorizeUrl(t, client, CALLBACK).url, email, PASSWORD);
      expect(squatter.response.status).to.equal(400);
      const owner = await passwordSignIn(new UserAgent(t.url), authorizeUrl(t, client, CALLBACK).url, email, owners);
      expect(owner.response.status).to.equal(303);
      // The squatter's pending verification link is dead.
      const verify = await new UserAgent(t.url).get(await linkFor(email));
      expect(verify.status).to.equal(410);
    });

    it('CSRF missing → 403', async () => {
      const f = await signUpForm();
      const res = await f.ua.post(f.action, { email: `x-${Date.now()}@example.test`, password: PASSWORD });
      expect(res.status).to.equal(403);
    });
  });
});
