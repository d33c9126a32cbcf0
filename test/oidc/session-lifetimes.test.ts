import { expect } from 'chai';
import { parseSessionOverrides, RequestLifetimes, sessionEnded, sessionTtl, withOverrides } from '../../src/oidc/session-lifetimes.ts';
import { authorizeUrl, callbackOf, createUser, passwordSignIn, type TestUser, UserAgent, webClient } from '../interactions/support.ts';
import type { TestService } from '../support/service.ts';
import { makeClient, startOidcService, type TestClient } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';
const IDLE = 3_600;
const ABSOLUTE = 7_200;

const now = () => Math.floor(Date.now() / 1000);

describe('oidc: session lifetimes (units)', () => {
  const defaults = { idleSeconds: IDLE, absoluteSeconds: ABSOLUTE };

  it('slides by the idle lifetime, never past the absolute end counted from sign-in', () => {
    expect(sessionTtl(defaults, 1_000_000, 1_000_000)).to.equal(IDLE);
    expect(sessionTtl(defaults, 1_000_000, 1_000_000 + ABSOLUTE - 100)).to.equal(100);
    expect(sessionTtl(defaults, 1_000_000, 1_000_000 + ABSOLUTE + 50)).to.equal(1);
    expect(sessionTtl(defaults, undefined, 1_000_000), 'no sign-in yet: idle only').to.equal(IDLE);
  });

  it('ends a session idle or absolutely too long, not before', () => {
    const t0 = 2_000_000;
    expect(sessionEnded(defaults, { loginTs: t0, iat: t0 }, t0 + IDLE - 1)).to.equal(undefined);
    expect(sessionEnded(defaults, { loginTs: t0, iat: t0 }, t0 + IDLE)).to.equal('idle');
    expect(sessionEnded(defaults, { loginTs: t0, iat: t0 + ABSOLUTE - 10 }, t0 + ABSOLUTE)).to.equal('absolute');
  });

  it('stamps the use on the session and applies the lifetimes recorded for the request', () => {
    const lifetimes = new RequestLifetimes(defaults);
    const ctx = {};
    const session: { loginTs?: number; iat?: number } = { loginTs: now(), iat: 1 };
    expect(lifetimes.ttl(ctx, session)).to.equal(IDLE);
    expect(session.iat).to.be.closeTo(now(), 1);
    lifetimes.remember(ctx, { idleSeconds: 120, absoluteSeconds: ABSOLUTE });
    expect(lifetimes.ttl(ctx, session)).to.equal(120);
    expect(lifetimes.ttl({}, session), 'another request: the defaults').to.equal(IDLE);
  });

  it('reads tenant overrides within bounds only', () => {
    expect(parseSessionOverrides({ session: { idleSeconds: 600, absoluteSeconds: 3_600 } })).to.deep.equal({
      idleSeconds: 600,
      absoluteSeconds: 3_600,
    });
    expect(parseSessionOverrides({ session: { idleSeconds: 5, absoluteSeconds: '3600' } })).to.deep.equal({});
    expect(parseSessionOverrides({ session: { idleSeconds: 10 ** 12 } })).to.deep.equal({});
    expect(parseSessionOverrides(null)).to.deep.equal({});
    expect(withOverrides(defaults, { idleSeconds: 600 })).to.deep.equal({ idleSeconds: 600, absoluteSeconds: ABSOLUTE });
  });
});

/**
 * The engine saves the session on every use with `ttl.Session`: idle lifetime from now, capped by
 * the absolute end. Time passing is simulated by moving the stored session's clock fields back.
 */
describe('oidc: session lifetimes (idle and absolute)', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;

  before(async () => {
    t = await startOidcService({ IAM_OIDC_SESSION_IDLE_TTL_S: String(IDLE), IAM_OIDC_SESSION_TTL_S: String(ABSOLUTE) });
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await t?.stop();
  });

  async function signIn(user: TestUser, c = client): Promise<UserAgent> {
    const ua = new UserAgent(t.url);
    const { response } = await passwordSignIn(ua, authorizeUrl(t, c, CALLBACK).url, user.email, user.password);
    expect((await callbackOf(ua, response)).searchParams.get('code')).to.be.a('string');
    return ua;
  }

  /** The user's stored session: seconds left before it expires, and its sign-in and last-use times. */
  async function storedSession(user: TestUser) {
    const row = await t.service
      .db('oidc_models')
      .where({ model: 'Session', account_id: user.id })
      .first('id', 'payload', t.service.db.raw('extract(epoch from expires_at - now())::int as left'));
    return row as { id: string; payload: { loginTs: number; iat: number; exp: number }; left: number } | undefined;
  }

  /** Moves the stored session's clock back by `seconds` (sign-in and last use), keeping it stored. */
  async function age(user: TestUser, fields: { loginTs?: number; iat?: number }) {
    const s = await storedSession(user);
    if (!s) throw new Error('no stored session');
    const payload = { ...s.payload, ...fields };
    await t.service
      .db('oidc_models')
      .where({ model: 'Session', id: s.id })
      .update({ payload: JSON.stringify(payload) });
  }

  /** A new authorization in the same browser: straight back to the client (SSO), or the sign-in page. */
  async function authorize(ua: UserAgent, c = client): Promise<'sso' | 'sign-in'> {
    const res = await ua.follow(await ua.get(authorizeUrl(t, c, CALLBACK).url));
    if (res.status === 303 && (res.location ?? '').startsWith(CALLBACK)) return 'sso';
    if (res.status === 200 && /\/identifier$/.test(res.url)) return 'sign-in';
    throw new Error(`unexpected ${res.status} ${res.url} → ${res.location}`);
  }

  it('a new session lives for the idle lifetime, and each use slides it', async () => {
    const user = await createUser(t);
    const ua = await signIn(user);
    const first = await storedSession(user);
    expect(first?.left).to.be.within(IDLE - 5, IDLE);
    expect(first?.payload.loginTs).to.be.closeTo(now(), 5);
    const cookie = [...ua.jar.keys()].find((k) => k.includes('iam_session'));
    expect(cookie, 'session cookie').to.be.a('string');

    await age(user, { iat: now() - 600 });
    await t.service
      .db('oidc_models')
      .where({ model: 'Session', account_id: user.id })
      .update({ expires_at: t.service.db.raw("now() + interval '60 seconds'") });
    expect(await authorize(ua)).to.equal('sso');
    const after = await storedSession(user);
    expect(after?.left, 'slid back to the full idle lifetime').to.be.within(IDLE - 5, IDLE);
    expect(after?.payload.iat, 'the use is stamped').to.be.closeTo(now(), 5);
  });

  it('an expired idle session forces sign-in again', async () => {
    const user = await createUser(t);
    const ua = await signIn(user);
    // The idle lifetime passed: the stored session expired.
    await t.service
      .db('oidc_models')
      .where({ model: 'Session', account_id: user.id })
      .update({ expires_at: t.service.db.raw("now() - interval '1 second'") });
    expect(await authorize(ua)).to.equal('sign-in');
  });

  it('a session idle past the lifetime is refused even while it is still stored (last use older than the idle lifetime)', async () => {
    const user = await createUser(t);
    const ua = await signIn(user);
    await age(user, { iat: now() - IDLE - 5 });
    expect(await authorize(ua)).to.equal('sign-in');
  });

  it('the absolute lifetime is not extended by activity', async () => {
    const user = await createUser(t);
    const ua = await signIn(user);
    // Signed in long ago: 100 s of the absolute lifetime are left. A use now must not give it the idle hour.
    await age(user, { loginTs: now() - ABSOLUTE + 100 });
    expect(await authorize(ua)).to.equal('sso');
    const after = await storedSession(user);
    expect(after?.left).to.be.within(90, 100);
    expect(after?.payload.exp).to.be.at.most(now() + 100);

    // Past the absolute end, however recently used: sign in again.
    await age(user, { loginTs: now() - ABSOLUTE - 1, iat: now() });
    expect(await authorize(ua)).to.equal('sign-in');
  });

  it('a tenant’s own lifetimes apply to its clients', async () => {
    const [tenant] = await t.service
      .db('tenants')
      .insert({
        slug: `short-${Date.now()}`,
        name: 'Short sessions',
        settings: JSON.stringify({ session: { idleSeconds: 600, absoluteSeconds: 1_800 } }),
      })
      .returning('id');
    const tenantClient = await makeClient(t, {
      name: 'Short-session app',
      tenant_id: tenant.id,
      grant_types: ['authorization_code'],
      redirect_uris: [CALLBACK],
      allowed_scopes: ['openid', 'email'],
      first_party: true,
    });
    const user = await createUser(t);
    // Signing in to a tenant's client needs a membership of that tenant.
    await t.service.db('memberships').insert({ tenant_id: tenant.id, user_id: user.id });
    const ua = await signIn(user, tenantClient);
    expect((await storedSession(user))?.left).to.be.within(595, 600);

    // Idle 15 minutes: fine for the deployment's clients (1 h), too long for the tenant's (10 min).
    await age(user, { iat: now() - 900 });
    expect(await authorize(ua, client)).to.equal('sso');
    await age(user, { iat: now() - 900 });
    expect(await authorize(ua, tenantClient)).to.equal('sign-in');
  });
});
