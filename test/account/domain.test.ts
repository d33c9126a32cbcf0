import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import {
  changeAccountPassword,
  confirmEmailChange,
  EMAIL_CHANGE_REQUESTS_PER_HOUR,
  ensureAccountClient,
  getAccountProfile,
  isRecentAuth,
  peekEmailChange,
  removeAccountPasskey,
  removeAccountTotp,
  requestEmailChange,
  secondFactorSummary,
  updateAccountProfile,
} from '../../src/account/index.ts';
import { AppError } from '../../src/errors/index.ts';
import { createPasswordHasher, createPasswordService, type PasswordService } from '../../src/identity/index.ts';
import { issueToken } from '../../src/identity/one-time-tokens.ts';
import { confirmTotp, countRemainingRecoveryCodes, enrolTotp, generateRecoveryCodes } from '../../src/mfa/index.ts';
import { createAuthThrottle } from '../../src/security/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { fromBase32, totpAt } from '../mfa/support.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { throttleConfig } from '../webauthn/support.ts';

const KEK = Buffer.alloc(32, 7);
const GOOD = 'glimmer quokka vat 42 tundra';
const NEW = 'a fresh oboe for the velvet tundra 9';
const ctx = { ip: '203.0.113.5', userAgent: 'test-agent', requestId: 'req-42' };

/**
 * The account pages' domain services (src/account) against PostgreSQL: the rows they write, the
 * audit events, and the refusals — another user's passkey, a reused or expired email link, a
 * wrong current password, an address taken meanwhile.
 */
describe('account: domain services', function () {
  this.timeout(60_000);
  let t: TestDatabase;
  let passwords: PasswordService;

  before(async () => {
    t = await createTestDatabase();
    passwords = createPasswordService({
      hasher: await createPasswordHasher({ m: 19_456, t: 2, p: 1 }),
      throttle: createAuthThrottle({ store: new MemoryStore(), config: throttleConfig() }),
    });
  });
  after(async () => {
    await t?.drop();
  });

  async function user(fields: Record<string, unknown> = {}, password: string | null = GOOD): Promise<{ id: string; email: string }> {
    // One word of 32 hex digits: a dashed uuid's 4-digit groups can fold into words of the password
    // ("a7a2" reads "ataz") and fail it under the context rule.
    const email = `acct-${randomUUID().replaceAll('-', '')}@example.test`;
    const [u] = await t
      .db('users')
      .insert({ email, email_verified_at: t.db.fn.now(), display_name: 'Ada', ...fields })
      .returning(['id', 'email']);
    if (password) await t.db.transaction((trx) => passwords.setPassword(trx, u.id, password, { actor: { type: 'system', id: 'test' } }));
    return u;
  }
  const audits = (action: string, userId: string) =>
    t.db('audit_events').where({ action, target_id: userId }).orderBy('chain_seq').select('outcome', 'details', 'ip', 'request_id');

  describe('profile', () => {
    it('saves changed names only, audits the field names (never the values), and refuses unprintable or overlong ones', async () => {
      const u = await user();
      const changed = await updateAccountProfile(t.db, u.id, { display_name: ' Ada  Lovelace ', given_name: 'Ada', family_name: '' }, ctx);
      expect(changed).to.deep.equal(['display_name', 'given_name']);
      const p = await getAccountProfile(t.db, u.id);
      expect(p).to.deep.include({
        displayName: 'Ada Lovelace',
        givenName: 'Ada',
        familyName: null,
        hasPassword: true,
        emailVerified: true,
      });
      expect(
        await updateAccountProfile(t.db, u.id, { display_name: 'Ada Lovelace', given_name: 'Ada', family_name: '' }, ctx),
      ).to.deep.equal([]);
      const rows = await audits('user.profile_updated', u.id);
      expect(rows).to.deep.equal([
        { outcome: 'success', details: { changed: ['display_name', 'given_name'] }, ip: '203.0.113.5', request_id: 'req-42' },
      ]);

      for (const bad of [{ display_name: 'A\u202eB' }, { given_name: 'x'.repeat(101) }]) {
        const err = await updateAccountProfile(t.db, u.id, { display_name: '', given_name: '', family_name: '', ...bad }).catch(
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(AppError);
        expect((err as AppError).code).to.equal('validation_failed');
      }
      expect((await getAccountProfile(t.db, u.id)).displayName, 'nothing saved by a refused form').to.equal('Ada Lovelace');
      const missing = await updateAccountProfile(t.db, randomUUID(), { display_name: 'x', given_name: '', family_name: '' }).catch(
        (e: unknown) => e,
      );
      expect((missing as AppError).code).to.equal('not_found');
    });
  });

  describe('email change', () => {
    it('mails a single-use link to the new address and changes nothing until it is confirmed', async () => {
      const u = await user();
      const target = `new-${randomUUID()}@example.test`;
      const req = await requestEmailChange(t.db, { userId: u.id, newEmail: ` ${target.toUpperCase()} ` }, ctx);
      expect(req.status).to.equal('requested');
      const mail = req.status === 'requested' ? req.mail : undefined;
      expect(mail?.to).to.equal(target);
      expect(mail?.token).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect((await getAccountProfile(t.db, u.id)).email, 'unchanged before the link').to.equal(u.email);
      expect(await peekEmailChange(t.db, mail?.token as string)).to.deep.equal({ ok: true, newEmail: target });

      // Outstanding links for the old address die with the change.
      const reset = await issueToken(t.db, { purpose: 'password_reset', email: u.email, userId: u.id });
      const done = await confirmEmailChange(t.db, mail?.token as string, ctx);
      expect(done).to.deep.include({ ok: true, userId: u.id, oldEmail: u.email, newEmail: target });
      const after = await getAccountProfile(t.db, u.id);
      expect(after).to.deep.include({ email: target, emailVerified: true });
      const resetRow = await t.db('one_time_tokens').where({ id: reset.id }).first('consumed_at');
      expect(resetRow?.consumed_at).to.be.instanceOf(Date);
      expect((await audits('user.email_change_requested', u.id))[0]?.details).to.include({ link_sent: true });
      expect(await audits('user.email_changed', u.id)).to.have.length(1);

      // The link works once.
      expect(await confirmEmailChange(t.db, mail?.token as string, ctx)).to.deep.equal({ ok: false, reason: 'used' });
      expect(await peekEmailChange(t.db, mail?.token as string)).to.deep.equal({ ok: false, reason: 'used' });
    });

    it('an expired link changes nothing; a newer request supersedes the older link', async () => {
      const u = await user();
      const first = await requestEmailChange(t.db, { userId: u.id, newEmail: `a-${randomUUID()}@example.test` });
      const second = await requestEmailChange(t.db, { userId: u.id, newEmail: `b-${randomUUID()}@example.test` });
      const token1 = first.status === 'requested' ? (first.mail?.token as string) : '';
      const token2 = second.status === 'requested' ? (second.mail?.token as string) : '';
      expect(await confirmEmailChange(t.db, token1)).to.deep.equal({ ok: false, reason: 'used' });
      await t
        .db('one_time_tokens')
        .where({ user_id: u.id, purpose: 'email_change' })
        .update({ created_at: t.db.raw(`now() - interval '2 hours'`), expires_at: t.db.raw(`now() - interval '1 second'`) });
      expect(await confirmEmailChange(t.db, token2)).to.deep.equal({ ok: false, reason: 'expired' });
      expect((await getAccountProfile(t.db, u.id)).email).to.equal(u.email);
      expect(await confirmEmailChange(t.db, 'not-a-token')).to.deep.equal({ ok: false, reason: 'invalid' });
    });

    it('an address of another account gets no link (same answer); one taken before confirmation refuses the change', async () => {
      const u = await user();
      const other = await user();
      const taken = await requestEmailChange(t.db, { userId: u.id, newEmail: other.email });
      expect(taken).to.deep.equal({ status: 'requested' });
      expect((await audits('user.email_change_requested', u.id))[0]?.details).to.deep.equal({ link_sent: false });

      const target = `race-${randomUUID()}@example.test`;
      const req = await requestEmailChange(t.db, { userId: u.id, newEmail: target });
      await user({ email: target });
      const result = await confirmEmailChange(t.db, req.status === 'requested' ? (req.mail?.token as string) : '');
      expect(result).to.deep.equal({ ok: false, reason: 'address_taken' });
      expect((await getAccountProfile(t.db, u.id)).email).to.equal(u.email);
    });

    it('refuses a malformed or unchanged address, and more than the hourly number of requests', async () => {
      const u = await user();
      expect(await requestEmailChange(t.db, { userId: u.id, newEmail: 'nope' })).to.deep.equal({ status: 'invalid' });
      expect(await requestEmailChange(t.db, { userId: u.id, newEmail: u.email.toUpperCase() })).to.deep.equal({ status: 'same_address' });
      for (let i = 0; i < EMAIL_CHANGE_REQUESTS_PER_HOUR; i++) {
        expect((await requestEmailChange(t.db, { userId: u.id, newEmail: `n${i}-${randomUUID()}@example.test` })).status).to.equal(
          'requested',
        );
      }
      expect(await requestEmailChange(t.db, { userId: u.id, newEmail: `late-${randomUUID()}@example.test` })).to.deep.equal({
        status: 'too_many',
      });
    });

    it('a link of an address changed since the request is stale and changes nothing', async () => {
      const u = await user();
      const req = await requestEmailChange(t.db, { userId: u.id, newEmail: `s-${randomUUID()}@example.test` });
      const moved = `admin-${randomUUID()}@example.test`;
      await t.db('users').where({ id: u.id }).update({ email: moved });
      expect(await confirmEmailChange(t.db, req.status === 'requested' ? (req.mail?.token as string) : '')).to.deep.equal({
        ok: false,
        reason: 'stale',
      });
      expect((await getAccountProfile(t.db, u.id)).email).to.equal(moved);
    });
  });

  describe('password', () => {
    it('needs the current password, applies the policy, and kills outstanding reset and sign-in links', async () => {
      const u = await user();
      expect(await changeAccountPassword(t.db, passwords, { userId: u.id, newPassword: NEW })).to.deep.equal({
        ok: false,
        reason: 'current_required',
      });
      expect(
        await changeAccountPassword(t.db, passwords, { userId: u.id, currentPassword: 'wrong one entirely', newPassword: NEW }, ctx),
      ).to.deep.equal({
        ok: false,
        reason: 'wrong_password',
      });
      const short = await changeAccountPassword(t.db, passwords, { userId: u.id, currentPassword: GOOD, newPassword: 'short' });
      expect(short.ok).to.equal(false);
      expect(short.ok === false && short.reason).to.equal('policy');
      expect(await changeAccountPassword(t.db, passwords, { userId: u.id, currentPassword: GOOD, newPassword: '' })).to.deep.equal({
        ok: false,
        reason: 'new_required',
      });
      const link = await issueToken(t.db, { purpose: 'magic_link', email: u.email, userId: u.id });
      expect(await changeAccountPassword(t.db, passwords, { userId: u.id, currentPassword: GOOD, newPassword: NEW }, ctx)).to.deep.equal({
        ok: true,
      });
      expect((await passwords.verifyUserPassword(t.db, { email: u.email, password: NEW })).ok).to.equal(true);
      expect((await t.db('one_time_tokens').where({ id: link.id }).first('consumed_at'))?.consumed_at).to.be.instanceOf(Date);
      const changed = await audits('auth.password.changed', u.id);
      expect(changed.at(-1)?.details).to.include({ via: 'change' });
      expect(changed.at(-1)?.ip).to.equal('203.0.113.5');
    });

    it('sets a first password without a current one (passwordless account); 8 characters suffice with a second factor', async () => {
      const u = await user({}, null);
      const enrolment = await enrolTotp(t.db, KEK, { userId: u.id, accountName: u.email, serviceName: 'InfraNotes' });
      const secret = fromBase32(enrolment.secretBase32);
      expect(
        (
          await confirmTotp(t.db, KEK, {
            userId: u.id,
            credentialId: enrolment.credentialId,
            code: totpAt(secret, Math.floor(Date.now() / 1000)),
          })
        ).ok,
      ).to.equal(true);
      expect(await changeAccountPassword(t.db, passwords, { userId: u.id, newPassword: 'Kx8#vq2!' })).to.deep.equal({ ok: true });
      expect((await getAccountProfile(t.db, u.id)).hasPassword).to.equal(true);
      expect((await audits('auth.password.changed', u.id))[0]?.details).to.include({ via: 'set' });
    });
  });

  describe('second factors', () => {
    it('removing the last second factor removes the recovery codes; removing one of two keeps them', async () => {
      const u = await user();
      const enrolment = await enrolTotp(t.db, KEK, { userId: u.id, accountName: u.email, serviceName: 'InfraNotes' });
      const secret = fromBase32(enrolment.secretBase32);
      await confirmTotp(t.db, KEK, {
        userId: u.id,
        credentialId: enrolment.credentialId,
        code: totpAt(secret, Math.floor(Date.now() / 1000)),
      });
      await generateRecoveryCodes(t.db, KEK, u.id);
      const [pk] = await t
        .db('webauthn_credentials')
        .insert({
          user_id: u.id,
          credential_id: Buffer.alloc(32, 1),
          public_key: Buffer.alloc(64, 2),
          counter: 0,
          transports: [],
          backup_eligible: true,
          backed_up: true,
        })
        .returning('id');
      expect((await secondFactorSummary(t.db, u.id)).passkeys).to.have.length(1);

      expect(await removeAccountTotp(t.db, u.id, ctx)).to.deep.equal({ removed: true, recoveryCodesDeleted: false });
      expect(await countRemainingRecoveryCodes(t.db, u.id)).to.equal(10);

      // Another user cannot remove it: false, nothing changed, a failure audited for them.
      const mallory = await user();
      expect(await removeAccountPasskey(t.db, mallory.id, pk.id, ctx)).to.deep.equal({ removed: false, recoveryCodesDeleted: false });
      expect(await t.db('webauthn_credentials').where({ id: pk.id }).first('id')).to.not.equal(undefined);
      expect((await audits('mfa.webauthn.removed', mallory.id))[0]?.outcome).to.equal('failure');

      expect(await removeAccountPasskey(t.db, u.id, pk.id, ctx)).to.deep.equal({ removed: true, recoveryCodesDeleted: true });
      expect(await countRemainingRecoveryCodes(t.db, u.id)).to.equal(0);
      expect((await audits('mfa.recovery_codes.deleted', u.id))[0]?.details).to.deep.equal({ count: 10 });
      expect(await removeAccountTotp(t.db, u.id)).to.deep.equal({ removed: false, recoveryCodesDeleted: false });
    });
  });

  describe('recent authentication and the console client', () => {
    it('is recent within the window only (and never for a time in the future or none)', () => {
      const now = 1_800_000_000_000;
      expect(isRecentAuth(now / 1000 - 299, 300, now)).to.equal(true);
      expect(isRecentAuth(now / 1000 - 301, 300, now)).to.equal(false);
      expect(isRecentAuth(now / 1000 + 3600, 300, now)).to.equal(false);
      expect(isRecentAuth(0, 300, now)).to.equal(false);
      expect(isRecentAuth(Number.NaN, 300, now)).to.equal(false);
    });

    it('creates the account client once, then brings a drifted one back (redirect URI follows the issuer)', async () => {
      const first = await ensureAccountClient(t.db, 'https://id.example.test/base/');
      expect(first).to.deep.include({ client_id: 'iam-account', first_party: true, token_endpoint_auth_method: 'none' });
      expect(first.redirect_uris).to.deep.equal(['https://id.example.test/base/account/callback']);
      expect(first.grant_types).to.deep.equal(['authorization_code']);
      const again = await ensureAccountClient(t.db, 'https://id.example.test/base');
      expect(again.version).to.equal(first.version);
      const moved = await ensureAccountClient(t.db, 'https://login.example.test');
      expect(moved.redirect_uris).to.deep.equal(['https://login.example.test/account/callback']);
      const changes = await t.db('audit_events').where({ target_id: 'iam-account' }).orderBy('chain_seq').pluck('action');
      expect(changes).to.deep.equal(['client.created', 'client.updated']);
      const refused = await ensureAccountClient(t.db, 'http://id.example.test').catch((e: unknown) => e);
      expect((refused as AppError).code).to.equal('validation_failed');
    });
  });
});
