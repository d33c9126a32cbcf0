import { createHash, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { listAccountSessions } from '../../src/oidc/account-sessions.ts';
import { redeemFirstPartyCode } from '../../src/oidc/account-sign-in.ts';
import { createUser, type HttpResponse, UserAgent, webClient } from '../interactions/support.ts';
import { fromBase32, totpAt } from '../mfa/support.ts';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { ACCOUNT_COOKIE, accountPage, ageAccountSignIn, appSignIn, csrfOf, refresh, signInToAccount } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const NEW_PASSWORD = 'the velvet oboe hums at dawn 51';

/**
 * The account pages over HTTP against a running service: the sign-in round trip through the
 * engine, every form's CSRF defence, the recent-authentication rule on every sensitive change,
 * another user's ids, the emailed link, and sessions ended elsewhere.
 */
describe('account pages (HTTP)', function () {
  this.timeout(180_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService();
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK], name: 'Orders web' });
  });
  after(async () => {
    await t?.stop();
  });

  const db = () => t.service.db;
  const mails = async (to: string) =>
    (await db()('dev_mailbox').where({ to }).orderBy('id').select('subject', 'text')) as { subject: string; text: string }[];
  const reauthOf = (res: HttpResponse) => (res.location ? new URL(res.location, t.url) : undefined);

  describe('signing in', () => {
    it('starts the engine’s code + PKCE flow for its own client, binds the state to the browser, and a callback works once', async () => {
      const ua = new UserAgent(t.url);
      const start = await ua.get('/account/passkeys');
      expect(start.status).to.equal(303);
      const authorize = new URL(start.location as string, t.url);
      expect(authorize.pathname).to.equal('/authorize');
      expect(Object.fromEntries(authorize.searchParams)).to.include({
        client_id: 'iam-account',
        response_type: 'code',
        redirect_uri: `${t.url}/account/callback`,
        scope: 'openid',
        code_challenge_method: 'S256',
      });
      expect(authorize.searchParams.get('prompt')).to.equal(null);
      expect(start.headers.get('set-cookie')).to.match(
        /iam-account-signin=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=900/,
      );

      const user = await createUser(t);
      const { page } = await signInToAccount(t, user, ua);
      expect(page.text).to.include(`Signed in as ${user.email}`);
      expect(ua.jar.get(ACCOUNT_COOKIE)).to.match(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
      // The account pages hold no tokens: the engine's grant for their code is gone.
      expect(await db()('oidc_models').where({ model: 'Grant', account_id: user.id }).count({ n: '*' }).first()).to.deep.equal({ n: 0 });
      const [session] = await listAccountSessions(db(), user.id);
      expect(session?.device?.userAgent, 'the sign-in recorded its browser').to.equal('node');
      expect(session?.device?.ip).to.equal('127.0.0.1');
    });

    it('refuses a callback replayed, from another browser, or naming another issuer', async () => {
      const user = await createUser(t);
      const ua = new UserAgent(t.url);
      const { passwordSignIn } = await import('../interactions/support.ts');
      const { response } = await passwordSignIn(ua, `${t.url}/account`, user.email, user.password);
      let res = response;
      while (res.location && !res.location.includes('/account/callback')) res = await ua.get(new URL(res.location, t.url).href);
      const callback = new URL(res.location as string, t.url);
      const mixup = new URL(callback);
      mixup.searchParams.set('iss', 'https://evil.example');
      expect((await ua.get(mixup.href)).status, 'another issuer').to.equal(400);
      const other = new UserAgent(t.url);
      expect((await other.get(callback.href)).status, 'another browser').to.equal(400);
      expect(other.jar.has(ACCOUNT_COOKIE)).to.equal(false);
      const first = await ua.get(callback.href);
      expect(first.status).to.equal(303);
      expect(first.location).to.equal('/account');
      const again = await new UserAgent(t.url).get(callback.href);
      expect(again.status, 'replayed').to.equal(400);
    });

    it('redeems a code only with its client, redirect URI, PKCE verifier and nonce, and only once', async () => {
      const user = await createUser(t);
      const ua = new UserAgent(t.url);
      const { passwordSignIn } = await import('../interactions/support.ts');
      const { response } = await passwordSignIn(ua, `${t.url}/account`, user.email, user.password);
      let res = response;
      while (res.location && !res.location.includes('/account/callback')) res = await ua.get(new URL(res.location, t.url).href);
      const callback = new URL(res.location as string, t.url);
      const state = callback.searchParams.get('state') as string;
      const code = callback.searchParams.get('code') as string;
      const pending = JSON.parse(
        (await t.service.store.get(`account:pending:${createHash('sha256').update(state).digest('base64url')}`)) as string,
      ) as { verifier: string; nonce: string };
      const provider = t.service.oidc.provider();
      const good = {
        code,
        clientId: 'iam-account',
        redirectUri: `${t.url}/account/callback`,
        codeVerifier: pending.verifier,
        nonce: pending.nonce,
      };
      for (const bad of [
        { code: 'short' },
        { code: 'A'.repeat(43) },
        { clientId: client.client_id },
        { redirectUri: `${t.url}/account/elsewhere` },
        { codeVerifier: 'x'.repeat(43) },
        { nonce: 'another-nonce' },
      ]) {
        expect(await redeemFirstPartyCode(provider, { ...good, ...bad }), JSON.stringify(bad)).to.equal(null);
      }
      const signIn = await redeemFirstPartyCode(provider, good);
      expect(signIn).to.deep.include({ accountId: user.id, amr: ['pwd'], acr: 'urn:infranotes:acr:pwd' });
      expect(signIn?.sessionUid).to.match(/^[A-Za-z0-9_-]{10,64}$/);
      expect(Math.abs((signIn?.authTime ?? 0) - Date.now() / 1000)).to.be.below(60);
      expect(await redeemFirstPartyCode(provider, good), 'replayed').to.equal(null);
    });

    it('a session ended elsewhere (sign out everywhere from another browser) ends the account pages too', async () => {
      const user = await createUser(t);
      const { ua: first } = await signInToAccount(t, user);
      const { ua: second } = await signInToAccount(t, user);
      const { csrf } = await accountPage(second, '/account/sessions');
      const out = await second.post('/account/sessions/sign-out-everywhere', { csrf });
      expect(out.status).to.equal(200);
      expect(out.text).to.include('You are signed out of InfraNotes on every browser and device.');
      for (const ua of [first, second]) {
        const res = await ua.get('/account');
        expect(res.status).to.equal(303);
        expect(new URL(res.location as string, t.url).pathname).to.equal('/authorize');
      }
      expect(await db()('oidc_models').where({ model: 'Session', account_id: user.id }).count({ n: '*' }).first()).to.deep.equal({ n: 0 });
    });
    it('"Sign out" ends this browser’s session like the engine’s logout: the application’s offline access stays', async () => {
      const user = await createUser(t);
      const ua = new UserAgent(t.url);
      const tokens = await appSignIn(t, client, CALLBACK, ua, user);
      // Signed in already (the application's sign-in): the pages open without another one.
      const overview = await ua.follow(await ua.get('/account'));
      expect(new URL(overview.url).pathname).to.equal('/account');
      const csrf = csrfOf(overview.text);
      const out = await ua.post('/account/sign-out', { csrf });
      expect(out.status).to.equal(200);
      expect(out.text).to.include('You are signed out of InfraNotes on this browser.');
      expect(ua.jar.has(ACCOUNT_COOKIE), 'the account cookie is cleared').to.equal(false);
      expect(await listAccountSessions(db(), user.id)).to.deep.equal([]);
      expect((await refresh(t, client, tokens.refreshToken as string)).status).to.equal(200);
      const audit = await db()('audit_events').where({ action: 'session.revoked', target_id: user.id }).first('details');
      expect(audit?.details).to.include({ reason: 'signed_out', grants_revoked: 0 });
    });
  });

  describe('CSRF', () => {
    it('refuses every form without the token, with a wrong one, another session’s, or from another site; nothing changes', async () => {
      const user = await createUser(t);
      const { ua } = await signInToAccount(t, user);
      const { ua: other } = await signInToAccount(t, await createUser(t));
      const { csrf } = await accountPage(ua, '/account/profile');
      const { csrf: otherCsrf } = await accountPage(other, '/account/profile');
      const [sessionUid] = (await listAccountSessions(db(), user.id)).map((s) => s.uid);
      const forms: [string, Record<string, string>][] = [
        ['/account/profile', { display_name: 'Hacked' }],
        ['/account/email', { email: 'attacker@example.test' }],
        ['/account/password', { current_password: user.password, new_password: NEW_PASSWORD }],
        ['/account/two-step/totp/setup', {}],
        ['/account/two-step/totp/confirm', { credential_id: randomUUID(), code: '123456' }],
        ['/account/two-step/totp/remove', {}],
        ['/account/two-step/recovery-codes', {}],
        ['/account/passkeys/register', { response: '{}' }],
        [`/account/passkeys/${randomUUID()}/rename`, { name: 'x' }],
        [`/account/passkeys/${randomUUID()}/remove`, {}],
        [`/account/sessions/${sessionUid}/revoke`, {}],
        ['/account/sessions/sign-out-everywhere', {}],
        [`/account/apps/${client.client_id}/revoke`, {}],
        ['/account/sign-out', {}],
      ];
      const auditsBefore = await db()('audit_events').count({ n: '*' }).first();
      for (const [path, form] of forms) {
        for (const [label, body, headers] of [
          ['missing', form, {}],
          ['wrong', { ...form, csrf: 'A'.repeat(43) }, {}],
          ['another session’s', { ...form, csrf: otherCsrf }, {}],
          ['cross-site', { ...form, csrf }, { 'sec-fetch-site': 'cross-site' }],
          ['foreign origin', { ...form, csrf }, { origin: 'https://evil.example' }],
        ] as [string, Record<string, string>, Record<string, string>][]) {
          const res = await ua.post(path, body, headers);
          expect(res.status, `${path} (${label})`).to.equal(403);
          expect(res.text).to.include('This form can’t be accepted');
        }
      }
      expect(await db()('audit_events').count({ n: '*' }).first(), 'nothing was changed or attempted').to.deep.equal(auditsBefore);
      expect((await accountPage(ua, '/account')).page.text, 'still signed in').to.include(user.email);
      const options = (headers: Record<string, string>) =>
        ua.request('/account/passkeys/options', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin', ...headers },
          body: '{}',
        });
      expect((await options({})).status).to.equal(403);
      expect((await options({ 'x-csrf-token': otherCsrf })).status).to.equal(403);
      expect((await options({ 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })).status).to.equal(403);
      expect(
        (await new UserAgent(t.url).request('/account/passkeys/options', { method: 'POST', headers: { 'x-csrf-token': csrf } })).status,
      ).to.equal(401);
      // On this IP-address issuer passkeys are unavailable: a valid call still gets nothing.
      expect((await options({ 'x-csrf-token': csrf })).status).to.equal(409);
    });

    it('a POST without an account session goes back to the overview (and from there to a sign-in)', async () => {
      const res = await new UserAgent(t.url).post('/account/profile', { display_name: 'x', csrf: 'A'.repeat(43) });
      expect(res.status).to.equal(303);
      expect(res.location).to.equal('/account');
    });
  });

  describe('recent authentication', () => {
    it('refuses every sensitive change after the window (303 to a fresh sign-in, nothing changed); others still work', async () => {
      const user = await createUser(t);
      const { ua } = await signInToAccount(t, user);
      const [pk] = await db()('webauthn_credentials')
        .insert({
          user_id: user.id,
          credential_id: Buffer.from(randomUUID()),
          public_key: Buffer.alloc(64, 3),
          counter: 0,
          transports: [],
          name: 'Key',
        })
        .returning('id');
      await ageAccountSignIn(t, ua, 301);
      const { csrf } = await accountPage(ua, '/account/two-step');
      const before = await db()('audit_events').count({ n: '*' }).first();
      const sensitive: [string, Record<string, string>, string][] = [
        ['/account/email', { email: 'elsewhere@example.test' }, 'email'],
        ['/account/password', { current_password: user.password, new_password: NEW_PASSWORD }, 'password'],
        ['/account/two-step/totp/setup', {}, 'two-step'],
        ['/account/two-step/totp/confirm', { credential_id: randomUUID(), code: '123456' }, 'two-step'],
        ['/account/two-step/totp/remove', {}, 'two-step'],
        ['/account/two-step/recovery-codes', {}, 'two-step'],
        ['/account/passkeys/register', { response: '{}' }, 'passkeys'],
        [`/account/passkeys/${pk.id}/remove`, {}, 'passkeys'],
      ];
      for (const [path, form, next] of sensitive) {
        const res = await ua.post(path, { ...form, csrf });
        expect(res.status, path).to.equal(303);
        expect(res.location, path).to.equal(`/account/reauth?next=${next}`);
      }
      for (const [path, next] of [
        ['/account/email', 'email'],
        ['/account/password', 'password'],
      ]) {
        const res = await ua.get(path as string);
        expect(res.location, path).to.equal(`/account/reauth?next=${next}`);
      }
      expect(await db()('audit_events').count({ n: '*' }).first(), 'nothing attempted').to.deep.equal(before);
      expect(await db()('webauthn_credentials').where({ id: pk.id }).first('id')).to.deep.equal({ id: pk.id });
      expect((await ua.get('/account/two-step')).text, 'the page says why').to.include('you need to sign in again before you change this');

      // Not sensitive: the profile, a passkey's label, ending sessions.
      expect((await ua.post('/account/profile', { csrf, display_name: 'Still Me', given_name: '', family_name: '' })).location).to.equal(
        '/account/profile?done=profile_saved',
      );
      expect((await ua.post(`/account/passkeys/${pk.id}/rename`, { csrf, name: 'Laptop' })).location).to.equal(
        '/account/passkeys?done=passkey_renamed',
      );

      // The fresh sign-in: prompt=login, max_age=0, the user's address hinted; it returns to the page.
      const reauth = await ua.get('/account/reauth?next=password');
      const authorize = reauthOf(reauth) as URL;
      expect(Object.fromEntries(authorize.searchParams)).to.include({
        prompt: 'login',
        max_age: '0',
        login_hint: user.email,
        client_id: 'iam-account',
      });
      const { passwordSignIn } = await import('../interactions/support.ts');
      const { response } = await passwordSignIn(ua, authorize.href, user.email, user.password);
      const landed = await ua.follow(response);
      expect(new URL(landed.url).pathname).to.equal('/account/password');
      expect(landed.status).to.equal(200);
      expect(landed.text).to.include('Current password');
      expect((await ua.get('/account/reauth?next=https://evil.example')).status).to.equal(303);
      expect(reauthOf(await ua.get('/account/reauth?next=%2F%2Fevil.example'))?.origin).to.equal(new URL(t.url).origin);
    });
  });

  describe('another user’s ids', () => {
    it('removing or renaming another user’s passkey, ending their session or revoking their application is a 404; nothing changes', async () => {
      const victim = await createUser(t);
      const victimBrowser = new UserAgent(t.url);
      const tokens = await appSignIn(t, client, CALLBACK, victimBrowser, victim);
      const [pk] = await db()('webauthn_credentials')
        .insert({
          user_id: victim.id,
          credential_id: Buffer.from(randomUUID()),
          public_key: Buffer.alloc(64, 4),
          counter: 0,
          transports: [],
          name: 'Victim key',
        })
        .returning('id');
      const [victimSession] = await listAccountSessions(db(), victim.id);

      const attacker = await createUser(t);
      const { ua } = await signInToAccount(t, attacker);
      const { csrf } = await accountPage(ua, '/account');
      for (const [path, form] of [
        [`/account/passkeys/${pk.id}/remove`, {}],
        [`/account/passkeys/${pk.id}/rename`, { name: 'pwned' }],
        ['/account/passkeys/not-a-uuid/remove', {}],
        [`/account/sessions/${victimSession?.uid}/revoke`, {}],
        [`/account/apps/${client.client_id}/revoke`, {}],
        ['/account/apps/iam-account/revoke', {}],
      ] as [string, Record<string, string>][]) {
        const res = await ua.post(path, { ...form, csrf });
        expect(res.status, path).to.equal(404);
        expect(res.text).to.include('This can’t be found');
      }
      expect(await db()('webauthn_credentials').where({ id: pk.id }).first('name')).to.deep.equal({ name: 'Victim key' });
      expect((await listAccountSessions(db(), victim.id)).map((s) => s.uid)).to.deep.equal([victimSession?.uid]);
      expect((await refresh(t, client, tokens.refreshToken as string)).status, 'the victim’s application still works').to.equal(200);
    });
  });

  describe('changes through the pages', () => {
    it('profile, TOTP with recovery codes, password (other sessions end, owner notified)', async () => {
      const user = await createUser(t);
      const elsewhere = new UserAgent(t.url);
      const appTokens = await appSignIn(t, client, CALLBACK, elsewhere, user);
      const { ua } = await signInToAccount(t, user);
      let { csrf } = await accountPage(ua, '/account/profile');

      const bad = await ua.post('/account/profile', { csrf, display_name: 'x'.repeat(201), given_name: '', family_name: '' });
      expect(bad.status).to.equal(400);
      expect(bad.text).to.include('Use fewer characters');
      const saved = await ua.follow(
        await ua.post('/account/profile', { csrf, display_name: 'Grace H', given_name: 'Grace', family_name: 'Hopper' }),
      );
      expect(saved.text).to.include('Your profile was saved.');
      expect(saved.text).to.include('value="Hopper"');

      // TOTP: the QR code is ours (inline SVG), the manual key gives the code.
      ({ csrf } = await accountPage(ua, '/account/two-step'));
      const setup = await ua.post('/account/two-step/totp/setup', { csrf });
      expect(setup.status).to.equal(200);
      expect(setup.text).to.match(/<div class="qr" role="img" aria-label="QR code for your authenticator app"><svg /);
      const key = (/<code class="manual-key" id="manual-key">([A-Z2-7 ]+)<\/code>/.exec(setup.text)?.[1] ?? '').replace(/ /g, '');
      expect(key).to.have.length(32);
      const credentialId = /name="credential_id" value="([^"]+)"/.exec(setup.text)?.[1] as string;
      const wrong = await ua.post('/account/two-step/totp/confirm', { csrf, credential_id: credentialId, code: '000000' });
      expect(wrong.status).to.equal(400);
      expect(wrong.text).to.include('The code is not correct.');
      const codes = await ua.post('/account/two-step/totp/confirm', {
        csrf,
        credential_id: credentialId,
        code: totpAt(fromBase32(key), Math.floor(Date.now() / 1000)),
      });
      expect(codes.status).to.equal(200);
      expect(codes.text).to.include('Save your recovery codes');
      expect([...codes.text.matchAll(/<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2})<\/code><\/li>/g)]).to.have.length(10);
      expect(codes.headers.get('cache-control')).to.equal('no-store');
      expect((await mails(user.email)).map((m) => m.subject)).to.include('InfraNotes: a sign-in method was added to your account');

      // Password: 8 characters are enough now (second factor); the other browser is signed out.
      ({ csrf } = await accountPage(ua, '/account/password'));
      const tooShort = await ua.post('/account/password', { csrf, current_password: user.password, new_password: 'short' });
      expect(tooShort.status).to.equal(400);
      expect(tooShort.text).to.include('Use at least 8 characters.');
      expect((await ua.post('/account/password', { csrf, new_password: NEW_PASSWORD })).text).to.include('Enter your current password');
      expect((await ua.post('/account/password', { csrf, current_password: user.password })).text).to.include('Enter a new password');
      const wrongCurrent = await ua.post('/account/password', {
        csrf,
        current_password: 'not my password at all',
        new_password: NEW_PASSWORD,
      });
      expect(wrongCurrent.status).to.equal(400);
      expect(wrongCurrent.text).to.include('The current password is not correct');
      const changed = await ua.post('/account/password', { csrf, current_password: user.password, new_password: NEW_PASSWORD });
      expect(changed.location).to.equal('/account?done=password_changed');
      expect(
        (await refresh(t, client, appTokens.refreshToken as string)).error,
        'the other session’s application lost its tokens',
      ).to.equal('invalid_grant');
      const sessions = await listAccountSessions(db(), user.id);
      expect(sessions, 'only this browser is still signed in').to.have.length(1);
      expect((await mails(user.email)).map((m) => m.subject)).to.include('InfraNotes: your password was changed');
      expect((await ua.get('/account')).status, 'this browser stays signed in').to.equal(200);

      // Removing the only second factor takes the recovery codes with it; new codes then need a factor first.
      const removed = await ua.post('/account/two-step/totp/remove', { csrf });
      expect(removed.location).to.equal('/account/two-step?done=totp_removed');
      expect((await ua.follow(removed)).text).to.include('No authenticator app is set up.');
      expect(await db()('recovery_codes').where({ user_id: user.id }).count({ n: '*' }).first()).to.deep.equal({ n: 0 });
      expect((await mails(user.email)).map((m) => m.subject)).to.include('InfraNotes: a sign-in method was removed from your account');
      expect((await ua.post('/account/two-step/recovery-codes', { csrf })).location).to.equal('/account/two-step');
      expect(await db()('recovery_codes').where({ user_id: user.id }).count({ n: '*' }).first()).to.deep.equal({ n: 0 });
    });

    it('lists the applications with access and removes one: its refresh token stops working', async () => {
      const user = await createUser(t);
      const appTokens = await appSignIn(t, client, CALLBACK, new UserAgent(t.url), user);
      const { ua } = await signInToAccount(t, user);
      const { page, csrf } = await accountPage(ua, '/account/apps');
      expect(page.text).to.include('<h3>Orders web</h3>');
      expect(page.text).to.include('Keeps access while you are not using it');
      expect(page.text, 'the account pages themselves are not listed').not.to.include('<h3>InfraNotes account</h3>');
      const res = await ua.post(`/account/apps/${client.client_id}/revoke`, { csrf });
      expect(res.location).to.equal('/account/apps?done=app_revoked');
      const after = await ua.follow(res);
      expect(after.text).to.include('The application no longer has access to your account.');
      expect(after.text).to.include('No application has access to your account.');
      expect((await refresh(t, client, appTokens.refreshToken as string)).error).to.equal('invalid_grant');
    });

    it('changes the email address through the emailed link: GET confirms, POST applies once; the old address is told', async () => {
      const user = await createUser(t);
      const { ua } = await signInToAccount(t, user);
      const { csrf } = await accountPage(ua, '/account/email');
      const target = `moved-${randomUUID()}@example.test`;
      const invalid = await ua.post('/account/email', { csrf, email: 'not an address' });
      expect(invalid.status).to.equal(400);
      const sent = await ua.post('/account/email', { csrf, email: target });
      expect(sent.status).to.equal(200);
      expect(sent.text).to.include('Check your new inbox');
      const [mail] = await mails(target);
      const link = /https?:\/\/\S+\/email\/change\/confirm\?token=[A-Za-z0-9_-]+/.exec(mail?.text ?? '')?.[0] as string;
      expect(link).to.be.a('string');

      const browser = new UserAgent(t.url);
      const confirm = await browser.get(link);
      expect(confirm.status).to.equal(200);
      expect(confirm.text).to.include(`make ${target} the email address`);
      expect(confirm.headers.get('referrer-policy')).to.equal('no-referrer');
      expect((await db()('users').where({ id: user.id }).first('email'))?.email, 'a GET changes nothing').to.equal(user.email);
      const token = new URL(link).searchParams.get('token') as string;
      const linkCsrf = csrfOf(confirm.text);
      expect((await browser.post('/email/change/confirm', { token })).status, 'no CSRF token').to.equal(403);
      expect((await browser.post('/email/change/confirm', { token, csrf: linkCsrf }, { 'sec-fetch-site': 'cross-site' })).status).to.equal(
        403,
      );
      const done = await browser.post('/email/change/confirm', { token, csrf: linkCsrf });
      expect(done.status).to.equal(200);
      expect(done.text).to.include('Your email address has been changed');
      expect((await db()('users').where({ id: user.id }).first('email'))?.email).to.equal(target);
      expect((await mails(user.email)).map((m) => m.subject)).to.include('InfraNotes: your email address was changed');

      const reused = await browser.post('/email/change/confirm', { token, csrf: linkCsrf });
      expect(reused.status).to.equal(410);
      expect((await browser.get(link)).status).to.equal(410);
      expect((await browser.get('/email/change/confirm?token=nonsense')).status).to.equal(400);

      const second = `again-${randomUUID()}@example.test`;
      await ua.post('/account/email', { csrf, email: second });
      const [mail2] = await mails(second);
      const link2 = /https?:\/\/\S+\/email\/change\/confirm\?token=[A-Za-z0-9_-]+/.exec(mail2?.text ?? '')?.[0] as string;
      await db()('one_time_tokens')
        .where({ user_id: user.id, purpose: 'email_change' })
        .whereNull('consumed_at')
        .update({ created_at: db().raw(`now() - interval '2 hours'`), expires_at: db().raw(`now() - interval '1 second'`) });
      expect((await browser.get(link2)).status, 'expired').to.equal(410);
      expect((await db()('users').where({ id: user.id }).first('email'))?.email).to.equal(target);
    });
  });
});
