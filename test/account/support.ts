import { expect } from 'chai';
import { accountSessionKey } from '../../src/http/routes/account/index.ts';
import { actionOf, csrfOf, type HttpResponse, passwordSignIn, type TestUser, UserAgent } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';

/** The account pages' session cookie in a user agent's jar (plain name: the tests' issuers are http). */
export const ACCOUNT_COOKIE = 'iam-account';

/**
 * Signs `user` in to `/account` over HTTP (the pages' own code + PKCE round trip through the
 * engine) and returns the overview page.
 */
export async function signInToAccount(
  t: TestService,
  user: TestUser,
  ua = new UserAgent(t.url),
): Promise<{ ua: UserAgent; page: HttpResponse }> {
  const { response } = await passwordSignIn(ua, `${t.url}/account`, user.email, user.password);
  expect(response.status, 'password accepted').to.equal(303);
  const page = await ua.follow(response);
  expect(page.status, `overview reached (${page.url})`).to.equal(200);
  expect(new URL(page.url).pathname).to.equal('/account');
  return { ua, page };
}

/** Makes the account session's sign-in `ageSeconds` old (the recent-authentication rule then refuses). */
export async function ageAccountSignIn(t: TestService, ua: UserAgent, ageSeconds: number): Promise<void> {
  const raw = ua.jar.get(ACCOUNT_COOKIE);
  if (!raw) throw new Error('no account session cookie');
  const key = accountSessionKey(raw.split('.')[0] ?? '');
  const stored = await t.service.store.get(key);
  if (!stored) throw new Error('no account session record');
  const record = JSON.parse(stored) as { authTime: number };
  record.authTime = Math.floor(Date.now() / 1000) - ageSeconds;
  await t.service.store.set(key, JSON.stringify(record), 600_000);
}

/** A page of the account pages, with its CSRF token. */
export async function accountPage(ua: UserAgent, path: string): Promise<{ page: HttpResponse; csrf: string }> {
  const page = await ua.get(path);
  expect(page.status, `${path}: ${page.status} ${page.location ?? ''}`).to.equal(200);
  return { page, csrf: csrfOf(page.text) };
}

export { actionOf, csrfOf };

/** Tokens of a relying party signed in through a browser of `ua` (code + PKCE, confidential client). */
export interface AppTokens {
  accessToken: string;
  refreshToken?: string;
  idToken: string;
}

/**
 * Signs `user` in to `client` in the browser `ua` (password), redeems the code at the token
 * endpoint and returns the tokens; `offline_access` gives a refresh token.
 */
export async function appSignIn(
  t: TestService,
  client: { client_id: string; client_secret: string },
  callback: string,
  ua: UserAgent,
  user: TestUser,
  scope = 'openid email offline_access',
): Promise<AppTokens> {
  const { authorizeUrl, callbackOf } = await import('../interactions/support.ts');
  const { basic, form } = await import('../oidc/support.ts');
  // The engine keeps offline_access only with prompt=consent (OpenID Connect Core §11).
  const request = authorizeUrl(t, client, callback, { scope, ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}) });
  const start = await ua.follow(await ua.get(request.url));
  let landing: HttpResponse;
  if (start.url.endsWith('/identifier')) {
    const { response } = await passwordSignIn(ua, request.url, user.email, user.password);
    landing = response;
  } else {
    landing = start;
  }
  const cb = await callbackOf(ua, landing);
  const code = cb.searchParams.get('code');
  if (!code) throw new Error(`no code in ${cb.href}`);
  const res = await form(
    `${t.url}/token`,
    { grant_type: 'authorization_code', code, code_verifier: request.verifier, redirect_uri: callback },
    { authorization: basic(client) },
  );
  expect(res.status, res.text).to.equal(200);
  return {
    accessToken: res.json.access_token as string,
    idToken: res.json.id_token as string,
    ...(typeof res.json.refresh_token === 'string' ? { refreshToken: res.json.refresh_token } : {}),
  };
}

/** A refresh at the token endpoint: the status and OAuth error. */
export async function refresh(t: TestService, client: { client_id: string; client_secret: string }, refreshToken: string) {
  const { basic, form } = await import('../oidc/support.ts');
  const res = await form(`${t.url}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, { authorization: basic(client) });
  return { status: res.status, error: res.json.error as string | undefined, refreshToken: res.json.refresh_token as string | undefined };
}
