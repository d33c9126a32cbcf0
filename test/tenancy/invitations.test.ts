import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { startTestService, type TestService } from '../support/service.ts';
import { addMember, addRole, call, count, createTenant, createUser, lastEvent, suffix, type TenantFixture, userToken } from './support.ts';

describe('invitations', function () {
  this.timeout(60_000);
  let t: TestService;
  let tenant: TenantFixture;

  before(async () => {
    t = await startTestService();
    tenant = await createTenant(t);
  });
  after(async () => {
    await t?.stop();
  });

  /** The token of the newest invitation mailed to `email` (development mailbox). */
  async function mailedToken(email: string): Promise<string> {
    const mail = await t.service.db('dev_mailbox').where({ to: email }).orderBy('id', 'desc').first('text', 'html', 'subject');
    expect(mail, `mail to ${email}`).to.exist;
    expect(mail.subject).to.include('invited');
    expect(mail.html).to.include('/invitations/accept?token=');
    const m = /\/invitations\/accept\?token=([A-Za-z0-9_-]+)/.exec(mail.text);
    return m?.[1] as string;
  }

  async function invite(email: string, roles?: (string | undefined)[], token = tenant.owner.token) {
    return call(t, 'POST', `/v1/tenants/${tenant.id}/invitations`, { token, body: { email, ...(roles ? { roles } : {}) } });
  }

  const accept = (token: string, userToken: string) => call(t, 'POST', '/v1/invitations/accept', { token: userToken, body: { token } });

  it('mails a single-use link (stored only as its SHA-256) and accepting it makes the user a member with the roles', async () => {
    const db = t.service.db;
    const email = `new-${suffix()}@example.test`;
    const res = await invite(email, [tenant.roles.viewer]);
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ email, status: 'pending', send_count: 1 });
    expect(res.body.roles).to.deep.equal([{ id: tenant.roles.viewer, key: 'viewer' }]);
    expect(JSON.stringify(res.body)).to.not.match(/token/);
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.invitation.created', key: tenant.id });
    expect(JSON.stringify((await lastEvent(db)).data)).to.not.include(email);
    const token = await mailedToken(email);
    const row = await db('invitations').where({ id: res.body.id }).first('token_hash');
    expect(row.token_hash.equals(createHash('sha256').update(token).digest())).to.equal(true);

    const user = await createUser(db, { email: email.toUpperCase() });
    const accepted = await accept(token, await userToken(t, user.id));
    expect(accepted.status).to.equal(200);
    expect(accepted.body).to.deep.equal({ tenant_id: tenant.id, invitation_id: res.body.id, user_id: user.id, roles: ['viewer'] });
    expect(Number(accepted.headers.get('iam-authz-revision'))).to.be.greaterThan(0);
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: user.id, status: 'active' })).to.equal(1);
    expect(await count(db, 'scope_bindings', { tenant_id: tenant.id, principal_id: user.id, role_id: tenant.roles.viewer })).to.equal(1);
    const types = (await db('outbox_events').orderBy('position', 'desc').limit(3).pluck('type')).sort();
    expect(types).to.deep.equal([
      'com.infranotes.iam.authz.binding.created',
      'com.infranotes.iam.invitation.accepted',
      'com.infranotes.iam.membership.added',
    ]);

    // Single use: the same link again, by the same user, fails clearly and changes nothing.
    const reused = await accept(token, await userToken(t, user.id));
    expect(reused.status).to.equal(410);
    expect(reused.body.code).to.equal('invitation_already_accepted');
    const status = await call(t, 'GET', `/v1/tenants/${tenant.id}/invitations/${res.body.id}`, { token: tenant.owner.token });
    expect(status.body).to.include({ status: 'accepted', accepted_by: user.id });
  });

  it('refuses the wrong account and an unverified address without consuming the invitation', async () => {
    const db = t.service.db;
    const email = `right-${suffix()}@example.test`;
    await invite(email);
    const token = await mailedToken(email);
    const other = await createUser(db);
    const wrong = await accept(token, await userToken(t, other.id));
    expect(wrong.status).to.equal(403);
    expect(wrong.body.code).to.equal('invitation_wrong_account');
    const unverified = await createUser(db, { email: `u-${suffix()}@example.test`, verified: false });
    await db('users').where({ id: unverified.id }).update({ email });
    const notVerified = await accept(token, await userToken(t, unverified.id));
    expect(notVerified.status).to.equal(403);
    expect(notVerified.body.detail).to.match(/verify/);
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: other.id })).to.equal(0);
    expect(await count(db, 'invitations', { tenant_id: tenant.id, email, accepted_at: null })).to.equal(1);
    // The right account still can.
    await db('users')
      .where({ id: unverified.id })
      .update({ email: `moved-${suffix()}@example.test` });
    const right = await createUser(db, { email });
    expect((await accept(token, await userToken(t, right.id))).status).to.equal(200);
  });

  it('refuses expired and revoked invitations, and the previous link after a resend', async () => {
    const db = t.service.db;
    const expiredEmail = `exp-${suffix()}@example.test`;
    const expired = await invite(expiredEmail);
    const expiredToken = await mailedToken(expiredEmail);
    await db('invitations')
      .where({ id: expired.body.id })
      .update({ created_at: db.raw(`now() - interval '2 days'`), expires_at: db.raw(`now() - interval '1 second'`) });
    const user = await createUser(db, { email: expiredEmail });
    const late = await accept(expiredToken, await userToken(t, user.id));
    expect(late.status).to.equal(410);
    expect(late.body.code).to.equal('invitation_expired');
    const listed = await call(t, 'GET', `/v1/tenants/${tenant.id}/invitations?status=expired`, { token: tenant.owner.token });
    expect(listed.body.items.map((i: { id: string }) => i.id)).to.include(expired.body.id);

    // A resend issues a fresh link; the old one is dead, the new one works.
    const resent = await call(t, 'POST', `/v1/tenants/${tenant.id}/invitations/${expired.body.id}/resend`, { token: tenant.owner.token });
    expect(resent.status).to.equal(200);
    expect(resent.body).to.include({ status: 'pending', send_count: 2 });
    const fresh = await mailedToken(expiredEmail);
    expect(fresh).to.not.equal(expiredToken);
    const old = await accept(expiredToken, await userToken(t, user.id));
    expect(old.status).to.equal(404);
    expect((await accept(fresh, await userToken(t, user.id))).status).to.equal(200);

    const revokedEmail = `rev-${suffix()}@example.test`;
    const revoked = await invite(revokedEmail);
    const revokedToken = await mailedToken(revokedEmail);
    expect(
      (await call(t, 'DELETE', `/v1/tenants/${tenant.id}/invitations/${revoked.body.id}`, { token: tenant.owner.token })).status,
    ).to.equal(204);
    expect(await lastEvent(db)).to.deep.include({ type: 'com.infranotes.iam.invitation.revoked' });
    const revokedUser = await createUser(db, { email: revokedEmail });
    const refused = await accept(revokedToken, await userToken(t, revokedUser.id));
    expect(refused.status).to.equal(410);
    expect(refused.body.code).to.equal('invitation_revoked');
    expect(
      (await call(t, 'DELETE', `/v1/tenants/${tenant.id}/invitations/${revoked.body.id}`, { token: tenant.owner.token })).status,
    ).to.equal(409);
    expect(
      (await call(t, 'POST', `/v1/tenants/${tenant.id}/invitations/${revoked.body.id}/resend`, { token: tenant.owner.token })).status,
    ).to.equal(409);
    expect(await count(db, 'memberships', { tenant_id: tenant.id, user_id: revokedUser.id })).to.equal(0);

    const garbage = await accept('A'.repeat(43), await userToken(t, revokedUser.id));
    expect(garbage.status).to.equal(404);
    const malformed = await accept('short', await userToken(t, revokedUser.id));
    expect(malformed.status).to.equal(400);
  });

  it('acceptance is atomic: of parallel acceptances exactly one succeeds', async () => {
    const db = t.service.db;
    const email = `race-${suffix()}@example.test`;
    const res = await invite(email, [tenant.roles.viewer, tenant.roles.member]);
    const token = await mailedToken(email);
    const user = await createUser(db, { email });
    const bearer = await userToken(t, user.id);
    const results = await Promise.all(Array.from({ length: 12 }, () => accept(token, bearer)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).to.have.length(1);
    expect(statuses.filter((s) => s === 410)).to.have.length(11);
    expect(await count(db, 'scope_bindings', { tenant_id: tenant.id, principal_id: user.id })).to.equal(2);
    expect(await count(db, 'audit_events', { action: 'invitation.accepted', target_id: res.body.id })).to.equal(1);
  });

  it('refuses duplicates, members, and roles the inviter could not grant', async () => {
    const db = t.service.db;
    const email = `dup-${suffix()}@example.test`;
    expect((await invite(email)).status).to.equal(201);
    const dup = await invite(email.toUpperCase());
    expect(dup.status).to.equal(409);
    expect(dup.body.reason).to.equal('invitation_pending');
    const member = await addMember(t, tenant, ['member']);
    const already = await invite(member.email);
    expect(already.status).to.equal(409);
    await addRole(t, tenant, 'inviter', [
      'iam.invitations.manage',
      'iam.bindings.manage',
      'iam.tenants.read',
      'iam.members.read',
      'iam.roles.read',
    ]);
    const inviter = await addMember(t, tenant, ['inviter']);
    const before = await count(db, 'invitations', { tenant_id: tenant.id });
    const escalate = await invite(`esc-${suffix()}@example.test`, [tenant.roles.admin], inviter.token);
    expect(escalate.status).to.equal(403);
    expect(await count(db, 'invitations', { tenant_id: tenant.id })).to.equal(before);
    expect((await invite(`ok-${suffix()}@example.test`, undefined, inviter.token)).status).to.equal(201);
    const plain = await addMember(t, tenant, ['member']);
    expect((await invite(`no-${suffix()}@example.test`, [], plain.token)).status).to.equal(403);
  });

  it('replays an invitation create with the same Idempotency-Key without a second mail', async () => {
    const db = t.service.db;
    const email = `idem-${suffix()}@example.test`;
    const key = `inv-${suffix()}`;
    const opts = { token: tenant.owner.token, body: { email }, headers: { 'idempotency-key': key } };
    const first = await call(t, 'POST', `/v1/tenants/${tenant.id}/invitations`, opts);
    const second = await call(t, 'POST', `/v1/tenants/${tenant.id}/invitations`, opts);
    expect(first.status).to.equal(201);
    expect(second.status).to.equal(201);
    expect(second.body).to.deep.equal(first.body);
    expect(await count(db, 'dev_mailbox', { to: email })).to.equal(1);
  });
});
