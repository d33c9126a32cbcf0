import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { expect } from 'chai';
import { identifierHash, unlockAccount } from '../../src/security/index.ts';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { services } from '../support/services.ts';
import {
  actionOf,
  auditActions,
  authorizeUrl,
  callbackOf,
  createUser,
  csrfOf,
  enrolConfirmedTotp,
  type HttpResponse,
  passwordSignIn,
  UserAgent,
  webClient,
} from './support.ts';

const CALLBACK = 'https://app.example.test/cb';

/** At the password page of `email` from source address `ip` (trusted X-Forwarded-For, as behind the load balancer). */
async function passwordForm(t: TestService, client: TestClient, email: string, ip: string) {
  const ua = new UserAgent(t.url, { 'x-forwarded-for': ip });
  const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
  const page = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email }));
  const action = actionOf(page.text, '/password');
  const csrf = csrfOf(page.text);
  return { ua, submit: (password: string) => ua.post(action, { csrf, password }) };
}

function expectTryLater(res: HttpResponse, label: string) {
  expect(res.status, label).to.equal(429);
  expect(res.location, label).to.equal(null);
  expect(Number(res.headers.get('retry-after')), label).to.be.greaterThan(0);
  expect(res.text, label).to.include('Wait a few minutes and try again');
}

describe('interactions: brute-force protection', function () {
  this.timeout(120_000);

  describe('rate limiting per account and per source address', () => {
    let t: TestService;
    let client: TestClient;

    before(async () => {
      t = await startOidcService({
        IAM_AUTH_ACCOUNT_FREE_FAILURES: '2',
        IAM_AUTH_ACCOUNT_BACKOFF_BASE_S: '60',
        IAM_AUTH_ACCOUNT_BACKOFF_MAX_S: '600',
        IAM_AUTH_IP_FREE_FAILURES: '4',
        IAM_AUTH_IP_BACKOFF_BASE_S: '60',
        IAM_AUTH_IP_BACKOFF_MAX_S: '600',
      });
      client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
    });
    after(async () => {
      await t?.stop();
    });

    it('an account that failed past its free attempts is refused — even with the right password — with “try again later”', async () => {
      const user = await createUser(t);
      const f = await passwordForm(t, client, user.email, '198.51.100.10');
      for (let i = 0; i < 3; i++) expect((await f.submit(`wrong ${i}`)).status, `failure ${i + 1}`).to.equal(400);
      expectTryLater(await f.submit(user.password), 'right password while backing off');
      // Another source address does not escape the account's wait.
      const elsewhere = await passwordForm(t, client, user.email, '198.51.100.11');
      expectTryLater(await elsewhere.submit(user.password), 'from another address');
      expect(await auditActions(t, 'auth.password.verified', user.id)).to.have.length(0);
      const refused = (await auditActions(t, 'auth.password.failed')).filter(
        (r) => r.details.reason === 'rate_limited' && r.details.account_hash === identifierHash(user.email),
      );
      expect(refused.length).to.be.greaterThan(0);
    });

    it('a source address guessing across accounts is refused for every account, known ones included', async () => {
      const ip = '203.0.113.20';
      for (let i = 0; i < 5; i++) {
        const f = await passwordForm(t, client, `spray-${i}-${Date.now()}@example.test`, ip);
        expect((await f.submit('Winter2025!')).status, `spray ${i + 1}`).to.equal(400);
      }
      const victim = await createUser(t);
      const f = await passwordForm(t, client, victim.email, ip);
      expectTryLater(await f.submit(victim.password), 'a valid account from the guessing address');
      // The same account from a clean address signs in.
      const clean = await passwordForm(t, client, victim.email, '203.0.113.21');
      expect((await clean.submit(victim.password)).status).to.equal(303);
    });

    it('TOTP guesses are throttled per account too (a right password does not buy unlimited codes)', async () => {
      const user = await createUser(t);
      await enrolConfirmedTotp(t, user);
      const ua = new UserAgent(t.url, { 'x-forwarded-for': '192.0.2.30' });
      const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, user.password);
      const page = await ua.follow(response);
      const action = actionOf(page.text, '/totp');
      const csrf = csrfOf(page.text);
      for (let i = 0; i < 3; i++) expect((await ua.post(action, { csrf, code: String(100000 + i) })).status).to.equal(400);
      expectTryLater(await ua.post(action, { csrf, code: '999999' }), 'fourth TOTP guess');
    });
  });

  describe('durable lockout (PostgreSQL, survives the limiter)', () => {
    let t: TestService;
    let client: TestClient;

    before(async () => {
      t = await startOidcService({
        IAM_AUTH_LOCKOUT_THRESHOLD: '3',
        IAM_AUTH_ACCOUNT_FREE_FAILURES: '100',
        IAM_AUTH_IP_FREE_FAILURES: '1000',
      });
      client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
    });
    after(async () => {
      await t?.stop();
    });

    it('locks the password after the threshold; the right password then fails generically until an unlock', async () => {
      const user = await createUser(t);
      const f = await passwordForm(t, client, user.email, '198.51.100.40');
      for (let i = 0; i < 3; i++) expect((await f.submit(`wrong ${i}`)).status).to.equal(400);
      expect(await auditActions(t, 'auth.lockout.locked', user.id)).to.have.length(1);
      const locked = await f.submit(user.password);
      expect(locked.status).to.equal(400);
      expect(locked.text).to.include('The email address or password is not correct');
      expect((await auditActions(t, 'auth.password.failed', user.id)).at(-1)?.details).to.include({ reason: 'locked' });

      await unlockAccount(t.service.db, user.id, { type: 'system', id: 'test' }, { reason: 'identity verified' });
      const ua = new UserAgent(t.url, { 'x-forwarded-for': '198.51.100.40' });
      const { response } = await passwordSignIn(ua, authorizeUrl(t, client, CALLBACK).url, user.email, user.password);
      expect((await callbackOf(ua, response)).searchParams.get('code')).to.be.a('string');
    });
  });

  describe('with Redis stopped', () => {
    let t: TestService;
    let client: TestClient;
    let proxy: TcpProxy;

    before(async () => {
      const upstream = new URL(services.redisUrl);
      proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 6379));
      await proxy.open();
      t = await startOidcService({ IAM_REDIS_URL: `redis://127.0.0.1:${proxy.port}${upstream.pathname}` });
      client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
    });
    after(async () => {
      await proxy?.open().catch(() => undefined);
      await t?.stop();
      await proxy?.close();
    });

    it('sign-in attempts are refused (“try again later”), never let through unthrottled; service resumes after', async () => {
      const user = await createUser(t);
      const f = await passwordForm(t, client, user.email, '198.51.100.50');

      await proxy.close();
      for (let i = 0; i < 5; i++) {
        const res = await f.submit(user.password);
        expect(res.status, `attempt ${i + 1} during the outage`).to.be.oneOf([429, 503]);
        expect(res.location, 'no redirect towards the client').to.equal(null);
        expect(res.text).to.match(/try again (later|in a few minutes)|Wait a few minutes and try again/i);
        expect(res.text).not.to.include('not correct');
      }
      // Nothing was verified while the limiter could not answer.
      expect(await auditActions(t, 'auth.password.verified', user.id)).to.have.length(0);
      expect(await auditActions(t, 'auth.signin.succeeded', user.id)).to.have.length(0);

      await proxy.open();
      // The service reconnects on its own (ioredis retries every ≤ 2 s); the same form then works.
      let res: HttpResponse | undefined;
      for (let i = 0; i < 60 && res?.status !== 303; i++) {
        res = await f.submit(user.password);
        if (res.status !== 303) await new Promise((r) => setTimeout(r, 250));
      }
      expect(res?.status).to.equal(303);
      expect((await callbackOf(f.ua, res as HttpResponse)).searchParams.get('code')).to.be.a('string');
    });
  });
});

/** A TCP proxy in front of Redis that the test can cut (every connection dropped, port refused) and restore. */
class TcpProxy {
  readonly host: string;
  readonly upstreamPort: number;
  port = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(host: string, upstreamPort: number) {
    this.host = host;
    this.upstreamPort = upstreamPort;
  }

  async open(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => {
      const upstream = createConnection({ host: this.host, port: this.upstreamPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(this.port, '127.0.0.1', () => ok());
    });
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((ok) => server.close(() => ok()));
  }
}
