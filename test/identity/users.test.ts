import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { createAdapterFactory } from '../../adapters/index.ts';
import { AppError } from '../../src/errors/index.ts';
import {
  createPasswordServiceFromConfig,
  createUser,
  disableUser,
  enableUser,
  getUser,
  listUsers,
  type PasswordService,
  setUserPassword,
} from '../../src/identity/index.ts';
import { basic, form, introspect, introspectorClient, makeClient, ORDERS_API, startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';

interface EngineModels {
  Client: { find(id: string): Promise<unknown> };
  Grant: new (
    p: Record<string, unknown>,
  ) => {
    addOIDCScope(s: string): void;
    addResourceScope(r: string, s: string): void;
    save(): Promise<string>;
  };
  RefreshToken: new (p: Record<string, unknown>) => { save(): Promise<string> };
  AccessToken: (new (p: Record<string, unknown>) => { save(): Promise<string> }) & { find(v: string): Promise<unknown> };
  Session: new (p: Record<string, unknown>) => { save(ttl: number): Promise<string> };
}

const ACTOR = { type: 'system', id: 'users-tests' } as const;
const STRONG = 'correct horse battery staple 42';

async function rejects(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

describe('identity: users', function () {
  this.timeout(60_000);
  let t: TestService;
  let passwords: PasswordService;
  let web: TestClient;
  let rs: TestClient;

  before(async () => {
    t = await startOidcService();
    passwords = await createPasswordServiceFromConfig(t.service.config, { store: t.service.store });
    web = await makeClient(t, {
      name: 'web app',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.test/cb'],
      allowed_resources: [ORDERS_API],
      allowed_scopes: ['openid', 'offline_access', 'orders.read'],
    });
    rs = await introspectorClient(t);
  });
  after(async () => {
    await t?.stop();
  });

  it('creates, lists and shows users; the email is normalised and unique case-insensitively', async () => {
    const ada = await createUser(t.service.db, { email: '  Ada@Example.TEST ', password: STRONG, displayName: 'Ada' }, ACTOR, {
      passwords,
    });
    expect(ada).to.include({ email: 'ada@example.test', display_name: 'Ada', status: 'active', has_password: true, email_verified: false });
    const nopw = await createUser(t.service.db, { email: 'nopw@example.test' }, ACTOR);
    expect(nopw.has_password).to.equal(false);

    expect((await rejects(createUser(t.service.db, { email: 'ADA@example.test' }, ACTOR))).code).to.equal('conflict');
    expect((await rejects(createUser(t.service.db, { email: 'not-an-email' }, ACTOR))).code).to.equal('validation_failed');

    expect((await getUser(t.service.db, 'ADA@EXAMPLE.test')).id).to.equal(ada.id);
    expect((await getUser(t.service.db, ada.id)).email).to.equal('ada@example.test');
    expect((await rejects(getUser(t.service.db, 'nobody@example.test'))).code).to.equal('not_found');

    const listed = await listUsers(t.service.db, { email: 'example.test' });
    expect(listed.map((u) => u.id)).to.include.members([ada.id, nopw.id]);
    expect(await listUsers(t.service.db, { email: 'ada@' })).to.have.length(1);
    const page = await listUsers(t.service.db, { limit: 1 });
    expect(page).to.have.length(1);
    expect((await listUsers(t.service.db, { after: page[0]?.id })).map((u) => u.id)).not.to.include(page[0]?.id);

    const event = await t.service.db('outbox_events').where({ type: 'com.infranotes.iam.user.created', key: ada.id }).first();
    expect(event.data).to.deep.equal({ id: ada.id });
    expect(await t.service.db('audit_events').where({ action: 'user.created', target_id: ada.id })).to.have.length(1);
  });

  it('enforces the password policy on create (nothing is created) and on set-password', async () => {
    const err = await rejects(createUser(t.service.db, { email: 'weak@example.test', password: 'password' }, ACTOR, { passwords }));
    expect(err.code).to.equal('validation_failed');
    expect(await t.service.db('users').whereRaw('lower(email) = ?', ['weak@example.test']).first()).to.equal(undefined);

    const u = await createUser(t.service.db, { email: 'reset@example.test' }, ACTOR);
    expect((await rejects(setUserPassword(t.service.db, passwords, u.id, 'short', ACTOR))).code).to.equal('validation_failed');
    const after = await setUserPassword(t.service.db, passwords, 'Reset@example.test', STRONG, ACTOR);
    expect(after.has_password).to.equal(true);
    expect((await passwords.verifyUserPassword(t.service.db, { email: 'reset@example.test', password: STRONG })).ok).to.equal(true);
  });

  it('disabling ends every session and grant; enabling restores sign-in but not the old sessions', async () => {
    const user = await createUser(t.service.db, { email: 'grace@example.test', password: STRONG }, ACTOR, { passwords });
    const provider = t.service.oidc.provider() as unknown as EngineModels;
    const client = await provider.Client.find(web.client_id);
    const grant = new provider.Grant({ accountId: user.id, clientId: web.client_id });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(ORDERS_API, 'orders.read');
    const grantId = await grant.save();
    const now = Math.floor(Date.now() / 1000);
    const rt0 = await new provider.RefreshToken({
      accountId: user.id,
      grantId,
      client,
      scope: 'openid offline_access orders.read',
      resource: ORDERS_API,
      gty: 'authorization_code',
      authTime: now - 30,
      amr: ['pwd'],
    }).save();
    const refresh = (v: string) => form(`${t.url}/token`, { grant_type: 'refresh_token', refresh_token: v }, { authorization: basic(web) });
    const first = await refresh(rt0);
    expect(first.status).to.equal(200);
    const rt1 = first.json.refresh_token as string;
    const jwt = first.json.access_token as string;
    expect(jwt.split('.')).to.have.length(3);
    expect((await introspect(t.url, rs, jwt)).json.active).to.equal(true);

    // An opaque access token of the grant in Redis, and a browser session.
    const opaque = await new provider.AccessToken({ accountId: user.id, grantId, client, scope: 'openid', gty: 'refresh_token' }).save();
    expect(await provider.AccessToken.find(opaque)).to.not.equal(undefined);
    const uid = randomBytes(12).toString('hex');
    await new provider.Session({ jti: randomBytes(16).toString('hex'), uid, accountId: user.id, loginTs: now, authorizations: {} }).save(
      3600,
    );
    await t.service.db('user_sessions').insert({
      user_id: user.id,
      oidc_session_uid: uid,
      idle_expires_at: new Date(Date.now() + 3_600_000),
      absolute_expires_at: new Date(Date.now() + 7_200_000),
    });
    expect(await t.service.db('oidc_models').where({ model: 'Session', account_id: user.id })).to.have.length(1);

    const cfg = t.service.config;
    const storage = createAdapterFactory({
      db: t.service.db,
      redisUrl: cfg.redis.url,
      keyPrefix: cfg.redis.key_prefix,
      logger: t.service.logger,
    });
    let result: Awaited<ReturnType<typeof disableUser>>;
    try {
      await storage.ready(5_000);
      result = await disableUser(t.service.db, storage, user.email as string, ACTOR, 'left the company', {
        maxAccessTokenTtlS: cfg.oidc.access_token_ttl_s,
      });
    } finally {
      await storage.close();
    }
    expect(result).to.include({ changed: true, grants_revoked: 1, sessions_ended: 1, short_lived_purged: true });
    expect(result.user.status).to.equal('disabled');
    expect(result.user.disabled_at).to.be.a('string');

    const refused = await refresh(rt1);
    expect(refused.status).to.equal(400);
    expect(refused.json.error).to.equal('invalid_grant');
    expect((await introspect(t.url, rs, jwt)).json).to.deep.equal({ active: false });
    expect(await provider.AccessToken.find(opaque)).to.equal(undefined);
    expect(await t.service.db('oidc_models').where({ account_id: user.id })).to.have.length(0);
    expect(await t.service.db('oidc_models').where({ model: 'Grant', id: grantId })).to.have.length(0);
    const session = await t.service.db('user_sessions').where({ oidc_session_uid: uid }).first();
    expect(session.revoked_reason).to.equal('user_disabled');
    expect(session.revoked_at).to.be.instanceOf(Date);
    const revoked = await t.service.db('revoked_grants').where({ grant_id: grantId }).first();
    expect(revoked).to.include({ account_id: user.id, client_id: web.client_id, reason: 'admin' });
    expect(await t.service.db('outbox_events').where({ type: 'com.infranotes.iam.user.disabled', key: user.id })).to.have.length(1);
    expect(await t.service.db('outbox_events').where({ type: 'com.infranotes.iam.token.revoked', key: grantId })).to.have.length(1);
    const audit = await t.service.db('audit_events').where({ action: 'user.disabled', target_id: user.id }).first();
    expect(audit.details).to.include({ reason: 'left the company', grants_revoked: 1, sessions_ended: 1 });
    expect((await passwords.verifyUserPassword(t.service.db, { email: 'grace@example.test', password: STRONG })).ok).to.equal(false);

    // Disabling again changes nothing and announces nothing.
    const again = await disableUser(t.service.db, undefined, user.id, ACTOR, 'again');
    expect(again).to.include({ changed: false, grants_revoked: 0, sessions_ended: 0, short_lived_purged: false });
    expect(await t.service.db('outbox_events').where({ type: 'com.infranotes.iam.user.disabled', key: user.id })).to.have.length(1);
    expect((await rejects(disableUser(t.service.db, undefined, user.id, ACTOR, '  '))).code).to.equal('validation_failed');

    const enabled = await enableUser(t.service.db, user.id, ACTOR);
    expect(enabled.changed).to.equal(true);
    expect(enabled.user).to.include({ status: 'active', disabled_at: null });
    expect((await enableUser(t.service.db, user.id, ACTOR)).changed).to.equal(false);
    expect(await t.service.db('outbox_events').where({ type: 'com.infranotes.iam.user.enabled', key: user.id })).to.have.length(1);
    expect((await passwords.verifyUserPassword(t.service.db, { email: 'grace@example.test', password: STRONG })).ok).to.equal(true);
    // The old sessions and tokens stay ended.
    expect(await t.service.db('oidc_models').where({ account_id: user.id })).to.have.length(0);
    expect((await t.service.db('user_sessions').where({ oidc_session_uid: uid }).first()).revoked_at).to.be.instanceOf(Date);
    expect((await refresh(rt1)).json.error).to.equal('invalid_grant');
  });
});
