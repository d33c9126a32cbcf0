import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashPassword } from '../../src/identity/password-hash.ts';
import { confirmTotp, enrolTotp } from '../../src/mfa/index.ts';
import { fromBase32, totpAt } from '../mfa/support.ts';
import { makeClient, ORDERS_API, type TestClient } from '../oidc/support.ts';
import { TEST_KEK, type TestService } from '../support/service.ts';

export const KEK = Buffer.from(TEST_KEK, 'base64');
export const ACR_PWD = 'urn:infranotes:acr:pwd';
export const ACR_MFA = 'urn:infranotes:acr:mfa';
/** A password the policy accepts (long, not common); tests insert hashes directly anyway. */
export const PASSWORD = 'correct horse battery staple 42';

export interface TestUser {
  id: string;
  email: string;
  password: string;
}

let seq = 0;

/** An active user with a verified email and a password, inserted directly. */
export async function createUser(t: TestService, fields: { email?: string; password?: string; name?: string } = {}): Promise<TestUser> {
  seq += 1;
  const email = fields.email ?? `signin-${seq}-${randomBytes(3).toString('hex')}@example.test`;
  const password = fields.password ?? PASSWORD;
  const { hash, params } = await hashPassword(password);
  const db = t.service.db;
  const [row] = await db('users')
    .insert({ email, email_verified_at: db.fn.now(), display_name: fields.name ?? `Test User ${seq}` })
    .returning('id');
  await db('password_credentials').insert({ user_id: row.id, password_hash: hash, params: JSON.stringify(params) });
  return { id: row.id as string, email, password };
}

export interface Totp {
  secret: Buffer;
  /** The code of the step containing `epochSeconds` (default now). */
  code(epochSeconds?: number): string;
}

/**
 * Enrols and confirms a TOTP authenticator through src/mfa, confirming with the previous step's
 * code so the current step is still unused for the sign-in that follows.
 */
export async function enrolConfirmedTotp(t: TestService, user: TestUser): Promise<Totp> {
  const enrolment = await enrolTotp(t.service.db, KEK, { userId: user.id, accountName: user.email, serviceName: 'InfraNotes' });
  const secret = fromBase32(enrolment.secretBase32);
  const now = Math.floor(Date.now() / 1000);
  const confirmed = await confirmTotp(t.service.db, KEK, {
    userId: user.id,
    credentialId: enrolment.credentialId,
    code: totpAt(secret, now - 30),
  });
  if (!confirmed.ok) throw new Error(`TOTP confirmation failed: ${confirmed.reason}`);
  return { secret, code: (at = Math.floor(Date.now() / 1000)) => totpAt(secret, at) };
}

/** A web client of the service (confidential, code + PKCE) with the given redirect URIs. */
export function webClient(
  t: TestService,
  opts: { firstParty: boolean; redirectUris: string[]; postLogoutRedirectUris?: string[]; name?: string },
): Promise<TestClient> {
  return makeClient(t, {
    name: opts.name ?? (opts.firstParty ? 'InfraNotes Web' : 'Partner App'),
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: opts.redirectUris,
    post_logout_redirect_uris: opts.postLogoutRedirectUris ?? [],
    allowed_resources: [ORDERS_API],
    allowed_scopes: ['openid', 'email', 'profile', 'offline_access', 'orders.read'],
    first_party: opts.firstParty,
  });
}

export const pkcePair = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

// --- a browserless user agent with a cookie jar (HTTP-level flows) --------------------------------

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
  url: string;
}

/** A minimal browser: a cookie jar, no automatic redirects, same-origin form posts. */
export class UserAgent {
  readonly base: string;
  readonly jar = new Map<string, string>();
  readonly headers: Record<string, string>;

  constructor(base: string, headers: Record<string, string> = {}) {
    this.base = base;
    this.headers = headers;
  }

  #cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  #store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async request(url: string, init: RequestInit = {}): Promise<HttpResponse> {
    const target = new URL(url, this.base).toString();
    const res = await fetch(target, {
      ...init,
      redirect: 'manual',
      headers: { accept: 'text/html', cookie: this.#cookieHeader(), ...this.headers, ...(init.headers as Record<string, string>) },
    });
    this.#store(res);
    return { status: res.status, headers: res.headers, text: await res.text(), location: res.headers.get('location'), url: target };
  }

  get(url: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    return this.request(url, { headers });
  }

  post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<HttpResponse> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** Follows redirects on this origin (GET) until a page, or a redirect elsewhere, is reached. */
  async follow(res: HttpResponse, max = 10): Promise<HttpResponse> {
    let r = res;
    for (let i = 0; i < max && r.status >= 300 && r.status < 400 && r.location; i++) {
      const next = new URL(r.location, r.url);
      if (next.origin !== new URL(this.base).origin) return r;
      r = await this.get(next.toString());
    }
    return r;
  }
}

/** The CSRF token in a rendered form. */
export function csrfOf(html: string): string {
  const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error(`no CSRF token in page:\n${html.slice(0, 500)}`);
  return token;
}

/** The action of the first form whose action ends with `suffix`. */
export function actionOf(html: string, suffix: string): string {
  const actions = [...html.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1] as string);
  const found = actions.find((a) => a.endsWith(suffix));
  if (!found) throw new Error(`no form posting to …${suffix}; forms: ${actions.join(', ')}`);
  return found;
}

/** An authorization request URL (code + PKCE S256) for a client. */
export function authorizeUrl(
  t: TestService,
  client: TestClient,
  redirectUri: string,
  extra: Record<string, string> = {},
): { url: string; verifier: string; state: string } {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(8).toString('hex');
  const u = new URL('/authorize', t.url);
  const params = {
    client_id: client.client_id,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid email',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return { url: u.toString(), verifier, state };
}

/**
 * Drives the identifier and password pages over HTTP: returns the response to the password POST
 * (a 303 towards the resume URL when the password was right, the page again otherwise).
 */
export async function passwordSignIn(ua: UserAgent, startUrl: string, email: string, password: string) {
  const start = await ua.follow(await ua.get(startUrl));
  if (!start.url.endsWith('/identifier')) throw new Error(`expected the identifier page, got ${start.status} ${start.url}`);
  const idPost = await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email });
  const pwPage = await ua.follow(idPost);
  if (!pwPage.url.endsWith('/password')) throw new Error(`expected the password page, got ${pwPage.status} ${pwPage.url}`);
  const response = await ua.post(actionOf(pwPage.text, '/password'), { csrf: csrfOf(pwPage.text), password });
  return { passwordPage: pwPage, response };
}

// --- a relying party's callback endpoint ---------------------------------------------------------

export interface RpServer {
  origin: string;
  callback: string;
  postLogout: string;
  /** Every URL the RP received, in order. */
  hits: URL[];
  close(): Promise<void>;
}

/** A loopback HTTP server standing in for the client's redirect and post-logout URIs. */
export async function startRp(): Promise<RpServer> {
  const hits: URL[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      `<!doctype html><html lang="en"><head><title>Relying party</title></head><body><main><h1>Relying party: ${url.pathname}</h1></main></body></html>`,
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    callback: `${origin}/cb`,
    postLogout: `${origin}/bye`,
    hits,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Follows the engine's resume redirect to the client: the callback URL it was sent to. */
export async function callbackOf(ua: UserAgent, res: HttpResponse): Promise<URL> {
  const last = await ua.follow(res);
  if (!(last.status >= 300 && last.status < 400 && last.location)) {
    throw new Error(`expected a redirect to the client, got ${last.status} ${last.url}\n${last.text.slice(0, 300)}`);
  }
  return new URL(last.location, last.url);
}

/** The text of the page without what differs per interaction and per response (for "same page" comparisons). */
export function normalizePage(html: string, email?: string): string {
  let out = html
    .replace(/name="csrf" value="[^"]+"/g, 'name="csrf" value="CSRF"')
    .replace(/nonce="[^"]+"/g, 'nonce="NONCE"')
    .replace(/\/interaction\/[A-Za-z0-9_-]+/g, '/interaction/UID');
  if (email) out = out.split(email).join('EMAIL');
  return out;
}

/** Audit rows of an action (optionally for one target user). */
export async function auditActions(t: TestService, action: string, userId?: string) {
  const q = t.service.db('audit_events').where({ action });
  if (userId) q.andWhere({ target_id: userId });
  return q.orderBy('chain_seq').select('outcome', 'target_id', 'details');
}
