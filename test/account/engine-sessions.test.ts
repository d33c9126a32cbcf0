import { expect } from 'chai';
import {
  endAccountSessions,
  isEngineSessionActive,
  listAccountGrants,
  listAccountSessions,
  recordSessionDevice,
  revokeAccountGrants,
} from '../../src/oidc/account-sessions.ts';
import { createUser, type TestUser, UserAgent, webClient } from '../interactions/support.ts';
import { makeClient, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { type AppTokens, appSignIn, refresh } from './support.ts';

const CALLBACK = 'https://app.example.test/cb';

/**
 * src/oidc/account-sessions.ts against a running service: real engine sessions and grants made by
 * browser sign-ins, then listed, ended and revoked as the account pages do — with the rows,
 * revocation records, audit and outbox events checked, and another user's ids changing nothing.
 */
describe('account: engine sessions and grants of a user', function () {
  this.timeout(120_000);
  let t: TestService;
  let client: TestClient;
  let bcClient: TestClient;

  before(async () => {
    t = await startOidcService();
    client = await webClient(t, { firstParty: true, redirectUris: [CALLBACK], name: 'Orders web' });
    bcClient = await makeClient(t, {
      name: 'Back-channel app',
      grant_types: ['authorization_code'],
      redirect_uris: [CALLBACK],
      backchannel_logout_uri: 'https://app.example.test/bc',
      allowed_scopes: ['openid', 'email'],
      first_party: true,
    });
  });
  after(async () => {
    await t?.stop();
  });

  const deps = () => ({ db: t.service.db, maxAccessTokenTtlS: 600 });
  const actor = (u: TestUser) => ({ actor: { type: 'user' as const, id: u.id }, ip: '203.0.113.9', requestId: 'req-1' });

  /** Two browsers of `user`, each signed in to the app (refresh token) — two engine sessions. */
  async function twoBrowsers(user: TestUser): Promise<{ uas: UserAgent[]; tokens: AppTokens[]; uids: string[] }> {
    const uas = [new UserAgent(t.url), new UserAgent(t.url)];
    const tokens: AppTokens[] = [];
    for (const ua of uas) tokens.push(await appSignIn(t, client, CALLBACK, ua, user));
    const sessions = await listAccountSessions(t.service.db, user.id);
    expect(sessions).to.have.length(2);
    return { uas, tokens, uids: sessions.map((s) => s.uid) };
  }

  const sessionRows = (userId: string) => t.service.db('oidc_models').where({ model: 'Session', account_id: userId }).select('uid');

  it('lists the live sessions with how they signed in, the applications used and, where recorded, the device', async () => {
    const user = await createUser(t);
    const { uids, tokens } = await twoBrowsers(user);
    expect(
      tokens.every((x) => typeof x.refreshToken === 'string'),
      'offline_access gave refresh tokens',
    ).to.equal(true);
    const [first] = await listAccountSessions(t.service.db, user.id);
    expect(first?.amr).to.deep.equal(['pwd']);
    expect(first?.signedInAt).to.be.instanceOf(Date);
    expect(first?.lastSeenAt).to.be.instanceOf(Date);
    expect(first?.clients).to.deep.equal([{ clientId: client.client_id, name: 'Orders web' }]);
    expect(first?.device).to.equal(null);

    await recordSessionDevice(t.service.db, {
      userId: user.id,
      sessionUid: uids[1] as string,
      authTime: Math.floor(Date.now() / 1000),
      amr: ['pwd'],
      ip: '198.51.100.7',
      userAgent: 'Mozilla/5.0 (X11; Linux) Test',
    });
    const other = await createUser(t);
    // A uid of someone else's session records nothing for this user.
    await recordSessionDevice(t.service.db, { userId: other.id, sessionUid: uids[0] as string, authTime: 1, amr: [] });
    const listed = await listAccountSessions(t.service.db, user.id);
    const recorded = listed.find((s) => s.uid === uids[1]);
    expect(recorded?.device).to.deep.equal({ ip: '198.51.100.7', userAgent: 'Mozilla/5.0 (X11; Linux) Test' });
    expect(listed.find((s) => s.uid === uids[0])?.device).to.equal(null);
    expect(Number((await t.service.db('user_sessions').where({ user_id: other.id }).count({ n: '*' }).first())?.n)).to.equal(0);
    expect(await listAccountSessions(t.service.db, other.id)).to.deep.equal([]);
  });

  it('ends one session: its grant and tokens are revoked, the other session keeps working; audited and announced', async () => {
    const user = await createUser(t);
    const { uids, tokens } = await twoBrowsers(user);
    const [gone, kept] = uids as [string, string];
    const goneIndex = (await listAccountSessions(t.service.db, user.id)).findIndex((s) => s.uid === gone);
    expect(await isEngineSessionActive(t.service.db, { userId: user.id, sessionUid: gone })).to.equal(true);

    const result = await endAccountSessions(deps(), { userId: user.id, only: [gone], reason: 'revoked_by_user' }, actor(user));
    expect(result).to.deep.equal({ ended: [gone], grantsRevoked: 1 });
    expect((await sessionRows(user.id)).map((r) => r.uid)).to.deep.equal([kept]);
    expect(await isEngineSessionActive(t.service.db, { userId: user.id, sessionUid: gone })).to.equal(false);

    // listAccountSessions is newest first: tokens[] is in sign-in order.
    const order = goneIndex === 0 ? [1, 0] : [0, 1];
    const goneTokens = tokens[order[0] as number] as AppTokens;
    const keptTokens = tokens[order[1] as number] as AppTokens;
    expect((await refresh(t, client, goneTokens.refreshToken as string)).error).to.equal('invalid_grant');
    expect((await refresh(t, client, keptTokens.refreshToken as string)).status).to.equal(200);
    expect(
      Number((await t.service.db('revoked_grants').where({ account_id: user.id, reason: 'logout' }).count({ n: '*' }).first())?.n),
    ).to.equal(1);

    const audits = await t.service
      .db('audit_events')
      .where({ action: 'session.revoked', target_id: user.id })
      .select('outcome', 'details', 'ip', 'actor_id');
    expect(audits).to.have.length(1);
    expect(audits[0]).to.deep.include({ outcome: 'success', ip: '203.0.113.9', actor_id: user.id });
    expect(audits[0]?.details).to.deep.equal({ session_uid: gone, reason: 'revoked_by_user', grants_revoked: 1 });
    const events = await t.service
      .db('outbox_events')
      .where({ type: 'com.infranotes.iam.auth.logout', key: user.id })
      .select('data', 'topic');
    expect(events).to.deep.equal([{ data: { user_id: user.id, session_id: gone }, topic: 'iam.auth.v1' }]);
  });

  it('another user’s session uid ends nothing and is audited as a failure; an unknown one likewise', async () => {
    const victim = await createUser(t);
    const attacker = await createUser(t);
    const { uids } = await twoBrowsers(victim);
    const before = await t.service.db('revoked_grants').count({ n: '*' }).first();
    const result = await endAccountSessions(
      deps(),
      { userId: attacker.id, only: [uids[0] as string, 'not a uid!'], reason: 'revoked_by_user' },
      actor(attacker),
    );
    expect(result).to.deep.equal({ ended: [], grantsRevoked: 0 });
    expect(await sessionRows(victim.id)).to.have.length(2);
    expect(await t.service.db('revoked_grants').count({ n: '*' }).first()).to.deep.equal(before);
    const failures = await t.service
      .db('audit_events')
      .where({ action: 'session.revoked', target_id: attacker.id })
      .select('outcome', 'details');
    expect(failures.map((f) => f.outcome)).to.deep.equal(['failure', 'failure']);
    expect(failures[0]?.details).to.deep.equal({ reason: 'not_found', session_uid: uids[0] });
    expect(failures[1]?.details).to.deep.equal({ reason: 'not_found' });
    expect(await isEngineSessionActive(t.service.db, { userId: attacker.id, sessionUid: uids[0] as string })).to.equal(false);
  });

  it('ends every session but one (password change), and every one (sign out everywhere), queueing back-channel logout', async () => {
    const user = await createUser(t);
    const { uas, uids } = await twoBrowsers(user);
    // The second browser also signed in to an application that wants back-channel logout.
    await appSignIn(t, bcClient, CALLBACK, uas[1] as UserAgent, user, 'openid email');
    const bcSession = (await listAccountSessions(t.service.db, user.id)).find((s) =>
      s.clients.some((c) => c.clientId === bcClient.client_id),
    );
    expect(bcSession).to.not.equal(undefined);
    const keep = uids.find((u) => u !== bcSession?.uid) as string;

    const but = await endAccountSessions(deps(), { userId: user.id, except: keep, reason: 'password_changed' }, actor(user));
    expect(but.ended).to.deep.equal([bcSession?.uid]);
    expect(but.grantsRevoked).to.equal(2);
    expect(await t.service.db('backchannel_logouts').where({ account_id: user.id }).select('client_id', 'reason')).to.deep.equal([
      { client_id: bcClient.client_id, reason: 'session_ended' },
    ]);
    expect((await sessionRows(user.id)).map((r) => r.uid)).to.deep.equal([keep]);

    const all = await endAccountSessions(deps(), { userId: user.id, reason: 'signed_out_everywhere' }, actor(user));
    expect(all.ended).to.deep.equal([keep]);
    expect(await sessionRows(user.id)).to.deep.equal([]);
  });

  it('lists granted applications per client and revokes them with their tokens; another user’s client revokes nothing', async () => {
    const user = await createUser(t);
    const { tokens } = await twoBrowsers(user);
    const apps = await listAccountGrants(t.service.db, user.id);
    expect(apps).to.have.length(1);
    expect(apps[0]).to.deep.include({ clientId: client.client_id, name: 'Orders web', firstParty: true, grants: 2, offline: true });
    expect(apps[0]?.scopes).to.deep.equal(['email', 'offline_access', 'openid']);
    expect(await listAccountGrants(t.service.db, user.id, { exclude: [client.client_id] })).to.deep.equal([]);

    const stranger = await createUser(t);
    expect(await revokeAccountGrants(deps(), { userId: stranger.id, clientId: client.client_id }, actor(stranger))).to.equal(0);
    expect((await refresh(t, client, tokens[0]?.refreshToken as string)).status, 'untouched by the stranger').to.equal(200);
    const failure = await t.service
      .db('audit_events')
      .where({ action: 'consent.revoked', target_id: stranger.id })
      .first('outcome', 'details');
    expect(failure).to.deep.equal({ outcome: 'failure', details: { reason: 'not_found', client_id: client.client_id } });

    expect(await revokeAccountGrants(deps(), { userId: user.id, clientId: client.client_id }, actor(user))).to.equal(2);
    expect(await listAccountGrants(t.service.db, user.id)).to.deep.equal([]);
    expect((await refresh(t, client, tokens[1]?.refreshToken as string)).error).to.equal('invalid_grant');
    const revokedEvents = await t.service
      .db('outbox_events')
      .where({ type: 'com.infranotes.iam.token.revoked' })
      .whereRaw(`data->>'reason' = 'admin'`)
      .count({ n: '*' })
      .first();
    expect(Number(revokedEvents?.n)).to.be.at.least(2);
    const ok = await t.service.db('audit_events').where({ action: 'consent.revoked', target_id: user.id }).first('outcome', 'details');
    expect(ok).to.deep.equal({ outcome: 'success', details: { client_id: client.client_id, grants_revoked: 2 } });
    // The sessions stay: only the application's access went.
    expect(await sessionRows(user.id)).to.have.length(2);
  });
});
