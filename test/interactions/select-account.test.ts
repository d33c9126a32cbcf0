import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { basic, form, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { actionOf, authorizeUrl, callbackOf, createUser, csrfOf, passwordSignIn, type TestUser, UserAgent, webClient } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';

/**
 * Account selection: `prompt=select_account`, or a `login_hint` naming another account than the
 * signed-in one, shows a page to continue as the signed-in account or sign in as another.
 */
describe('interactions: account selection', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService();
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  async function signedIn(user: TestUser): Promise<UserAgent> {
    const ua = new UserAgent(t.url);
    const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, user.password);
    expect((await callbackOf(ua, response)).searchParams.get('code')).to.be.a('string');
    return ua;
  }

  async function subjectOf(callback: URL, verifier: string): Promise<string> {
    const tokens = await form(
      `${t.url}/token`,
      {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') as string,
        code_verifier: verifier,
        redirect_uri: CALLBACK,
      },
      { authorization: basic(client) },
    );
    expect(tokens.status, tokens.text).to.equal(200);
    return decodeJwt(tokens.json.id_token as string).sub as string;
  }

  it('prompt=select_account with a session: "Continue as" returns to the client as that account', async () => {
    const user = await createUser(t);
    const ua = await signedIn(user);
    const request = authorizeUrl(t, client, CALLBACK, { prompt: 'select_account' });
    const page = await ua.follow(await ua.get(request.url));
    expect(page.status).to.equal(200);
    expect(page.url).to.match(/\/select-account$/);
    expect(page.text).to.include('Choose an account');
    expect(page.text).to.include(`Continue as ${user.email}`);
    expect(page.headers.get('content-security-policy')).to.include("frame-ancestors 'none'");

    const chosen = await ua.post(actionOf(page.text, '/select-account'), { csrf: csrfOf(page.text), decision: 'continue' });
    expect(chosen.status).to.equal(303);
    const callback = await callbackOf(ua, chosen);
    expect(callback.searchParams.get('state')).to.equal(request.state);
    expect(await subjectOf(callback, request.verifier)).to.equal(user.id);
  });

  it('prompt=select_account: "a different account" signs in as another user, and is not asked again', async () => {
    const first = await createUser(t);
    const second = await createUser(t);
    const ua = await signedIn(first);
    const request = authorizeUrl(t, client, CALLBACK, { prompt: 'select_account' });
    const page = await ua.follow(await ua.get(request.url));
    const switched = await ua.follow(await ua.post(actionOf(page.text, '/switch-account'), { csrf: csrfOf(page.text) }));
    expect(switched.url).to.match(/\/identifier$/);
    const idPost = await ua.post(actionOf(switched.text, '/identifier'), { csrf: csrfOf(switched.text), email: second.email });
    const pwPage = await ua.follow(idPost);
    expect(pwPage.url).to.match(/\/password$/);
    const done = await ua.post(actionOf(pwPage.text, '/password'), { csrf: csrfOf(pwPage.text), password: second.password });
    expect(done.status).to.equal(303);
    // The engine first signs the previous account out of this browser (its auto-submitted logout
    // form: back-channel logout of that session's clients), then resumes as the new account.
    const logout = await ua.follow(done);
    expect(logout.status).to.equal(200);
    const action = /<form method="post" action="([^"]+)"/.exec(logout.text)?.[1] as string;
    expect(new URL(action).pathname).to.equal('/logout/confirm');
    const fields = Object.fromEntries(
      [...logout.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const callback = await callbackOf(ua, await ua.post(action, fields as Record<string, string>));
    expect(await subjectOf(callback, request.verifier)).to.equal(second.id);

    // The session is now the second user's: no selection without being asked for it.
    const sso = authorizeUrl(t, client, CALLBACK);
    const next = await ua.follow(await ua.get(sso.url));
    expect(next.location ?? '').to.match(/^https:\/\/app\.example\.test\/cb\?code=/);
    expect(await subjectOf(new URL(next.location as string), sso.verifier)).to.equal(second.id);
  });

  it('a login_hint naming another account than the session’s asks which one, prefilling the hinted address', async () => {
    const user = await createUser(t);
    const ua = await signedIn(user);
    const hinted = `someone-else-${Date.now()}@example.test`;
    const page = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK, { login_hint: hinted }).url));
    expect(page.url).to.match(/\/select-account$/);
    expect(page.text).to.include(hinted);
    const switched = await ua.follow(await ua.post(actionOf(page.text, '/switch-account'), { csrf: csrfOf(page.text) }));
    expect(switched.url).to.match(/\/identifier$/);
    expect(switched.text).to.include(`value="${hinted}"`);

    // The session's own address as hint, in any case: straight back to the client.
    const same = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK, { login_hint: user.email.toUpperCase() }).url));
    expect(same.location ?? '').to.match(/^https:\/\/app\.example\.test\/cb\?code=/);
  });

  it('without a session, prompt=select_account is a plain sign-in, not asked again afterwards', async () => {
    const user = await createUser(t);
    const ua = new UserAgent(t.url);
    const request = authorizeUrl(t, client, CALLBACK, { prompt: 'select_account' });
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    const callback = await callbackOf(ua, response);
    expect(await subjectOf(callback, request.verifier)).to.equal(user.id);
  });

  it('prompt=none with a login_hint for another account answers account_selection_required; forged posts change nothing', async () => {
    const user = await createUser(t);
    const ua = await signedIn(user);
    const none = await ua.get(authorizeUrl(t, client, CALLBACK, { prompt: 'none', login_hint: 'other@example.test' }).url);
    const location = new URL(none.location as string);
    expect(location.searchParams.get('error')).to.equal('account_selection_required');

    const page = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK, { prompt: 'select_account' }).url));
    const action = actionOf(page.text, '/select-account');
    const forged = await ua.post(action, { csrf: 'forged', decision: 'continue' });
    expect(forged.status).to.equal(403);
    const odd = await ua.post(action, { csrf: csrfOf(page.text), decision: 'something-else' });
    expect(odd.status).to.equal(303);
    expect(odd.location).to.not.match(/app\.example\.test/);
  });
});
