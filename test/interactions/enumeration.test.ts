import { expect } from 'chai';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { actionOf, authorizeUrl, createUser, csrfOf, type HttpResponse, normalizePage, UserAgent, webClient } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/**
 * No user enumeration: an unknown email gets the same pages, the same answer and — within
 * measurement noise — the same time as a known email with a wrong password. (Limits are relaxed
 * here so that every attempt reaches the password check.)
 */
describe('interactions: no user enumeration', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService({ IAM_AUTH_ACCOUNT_FREE_FAILURES: '100', IAM_AUTH_IP_FREE_FAILURES: '100000' });
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  async function passwordPageFor(email: string) {
    const ua = new UserAgent(t.url);
    const start = await ua.follow(await ua.get(authorizeUrl(t, client, CALLBACK).url));
    const page = await ua.follow(await ua.post(actionOf(start.text, '/identifier'), { csrf: csrfOf(start.text), email }));
    return { ua, page, action: actionOf(page.text, '/password'), csrf: csrfOf(page.text) };
  }

  const comparable = (r: HttpResponse) => ({
    status: r.status,
    location: r.location,
    contentType: r.headers.get('content-type'),
    cacheControl: r.headers.get('cache-control'),
    retryAfter: r.headers.get('retry-after'),
  });

  it('unknown and known emails get the same password page and the same failure, in comparable time', async () => {
    const known = await createUser(t);
    const unknownEmail = `nobody-${Date.now()}@example.test`;
    const k = await passwordPageFor(known.email);
    const u = await passwordPageFor(unknownEmail);
    expect(k.page.status).to.equal(u.page.status);
    expect(normalizePage(k.page.text, known.email)).to.equal(normalizePage(u.page.text, unknownEmail));

    const timings = { known: [] as number[], unknown: [] as number[] };
    let knownAnswer: HttpResponse | undefined;
    let unknownAnswer: HttpResponse | undefined;
    // Warm-up (connection pools, JIT), then interleaved samples.
    for (let i = 0; i < 2; i++) {
      await k.ua.post(k.action, { csrf: k.csrf, password: `warm-up-${i}` });
      await u.ua.post(u.action, { csrf: u.csrf, password: `warm-up-${i}` });
    }
    for (let i = 0; i < 12; i++) {
      for (const [which, f] of i % 2
        ? ([
            ['known', k],
            ['unknown', u],
          ] as const)
        : ([
            ['unknown', u],
            ['known', k],
          ] as const)) {
        const started = performance.now();
        const res = await f.ua.post(f.action, { csrf: f.csrf, password: `wrong password number ${i}` });
        timings[which].push(performance.now() - started);
        if (which === 'known') knownAnswer = res;
        else unknownAnswer = res;
      }
    }
    const a = knownAnswer as HttpResponse;
    const b = unknownAnswer as HttpResponse;
    expect(comparable(a)).to.deep.equal(comparable(b));
    expect(a.status).to.equal(400);
    expect(normalizePage(a.text, known.email)).to.equal(normalizePage(b.text, unknownEmail));
    expect(a.text).to.include('The email address or password is not correct');

    // Both paths run one argon2id verification; a missing account must not answer measurably faster.
    const mk = median(timings.known);
    const mu = median(timings.unknown);
    const ratio = mu / mk;
    expect(ratio, `median known ${mk.toFixed(1)} ms, unknown ${mu.toFixed(1)} ms`).to.be.within(0.6, 1.67);
  });

  it('a disabled account answers like an unknown one', async () => {
    const disabled = await createUser(t);
    await t.service.db('users').where({ id: disabled.id }).update({ status: 'disabled', disabled_at: t.service.db.fn.now() });
    const unknownEmail = `nobody-else-${Date.now()}@example.test`;
    const d = await passwordPageFor(disabled.email);
    const u = await passwordPageFor(unknownEmail);
    const dr = await d.ua.post(d.action, { csrf: d.csrf, password: disabled.password });
    const ur = await u.ua.post(u.action, { csrf: u.csrf, password: disabled.password });
    expect(comparable(dr)).to.deep.equal(comparable(ur));
    expect(normalizePage(dr.text, disabled.email)).to.equal(normalizePage(ur.text, unknownEmail));
  });
});
