import { expect } from 'chai';
import { AppError } from '../../src/errors/index.ts';
import { createAuthThrottle, createFactorGuard } from '../../src/security/index.ts';
import type { KeyValueStore } from '../../src/store/index.ts';
import { CHALLENGE_TTL_MS, createPasskeyService, createRelyingParty, listPasskeys } from '../../src/webauthn/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import type { SoftwareAuthenticator } from './authenticator.ts';
import { auditRows, authenticator, ISSUER, insertUser, ORIGIN, type Rig, RP_ID, register, rig, throttleConfig } from './support.ts';

describe('webauthn: registration and authentication ceremonies', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let r: Rig;
  const db = () => database.db;

  before(async () => {
    database = await createTestDatabase();
  });
  beforeEach(() => {
    r = rig();
  });
  afterEach(async () => {
    await r.store.close();
  });
  after(async () => {
    await database?.drop();
  });

  const credentialRow = (id: string) => db()('webauthn_credentials').where({ id }).first();

  describe('registration', () => {
    it('offers passkey options for the issuer RP and creates a random user handle once', async () => {
      const userId = await insertUser(db());
      const o = await r.passkeys.startRegistration(db(), r.store, {
        userId,
        userName: 'alice@example.test',
        displayName: 'Alice\u202e Evil',
      });
      expect(o.rp).to.deep.equal({ id: RP_ID, name: 'InfraNotes Test' });
      expect(o.user.name).to.equal('alice@example.test');
      expect(o.user.displayName).to.equal('Alice Evil');
      expect(o.attestation).to.equal('none');
      expect(o.authenticatorSelection).to.include({ residentKey: 'required', requireResidentKey: true, userVerification: 'required' });
      expect(o.pubKeyCredParams.map((p) => p.alg)).to.deep.equal([-7, -8, -257]);
      expect(o.excludeCredentials).to.deep.equal([]);
      expect(o.timeout).to.equal(CHALLENGE_TTL_MS);
      expect(Buffer.from(o.challenge, 'base64url')).to.have.length(32);

      const handle: Buffer = (await db()('users').where({ id: userId }).first('webauthn_user_handle')).webauthn_user_handle;
      expect(handle).to.have.length(32);
      expect(o.user.id).to.equal(handle.toString('base64url'));
      expect(o.user.id).not.to.include(Buffer.from(userId).toString('base64url'));

      const again = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'alice@example.test' });
      expect(again.user.id).to.equal(o.user.id);
      expect(again.challenge).not.to.equal(o.challenge);
    });

    it('stores a verified credential with its name, key, flags and transports, and excludes it next time', async () => {
      const userId = await insertUser(db());
      const auth = authenticator({ transports: ['usb', 'nfc', 'bogus'] });
      const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      const res = await r.passkeys.finishRegistration(db(), r.store, { userId, response: auth.create(o), name: '  Yubi\u200bKey\n 5  ' });
      expect(res.ok).to.equal(true);
      if (!res.ok) return;
      expect(res.passkey).to.include({ name: 'YubiKey 5', backupEligible: false, backedUp: false, deviceType: 'singleDevice' });
      expect(res.passkey.transports).to.deep.equal(['nfc', 'usb']);
      expect(res.passkey.aaguid).to.match(/^[0-9a-f-]{36}$/);

      const row = await credentialRow(res.passkey.id);
      expect(row.user_id).to.equal(userId);
      expect(row.credential_id.toString('base64url')).to.equal(auth.credentialId);
      expect(Number(row.counter)).to.equal(0);
      expect(row.public_key.length).to.be.greaterThan(64);

      const next = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      expect(next.excludeCredentials).to.deep.equal([{ id: auth.credentialId, type: 'public-key', transports: ['nfc', 'usb'] }]);

      const [audit] = await auditRows(db(), 'mfa.webauthn.registered', userId);
      expect(audit).to.deep.include({ outcome: 'success', actor_id: userId });
      expect(audit?.details).to.include({ credential_id: res.passkey.id, fmt: 'none', device_type: 'singleDevice', user_verified: true });
    });

    it('accepts EdDSA (Ed25519) keys and a JSON string from a form field', async () => {
      const userId = await insertUser(db());
      const auth = authenticator({ alg: 'EdDSA' });
      const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'ed@example.test' });
      const res = await r.passkeys.finishRegistration(db(), r.store, { userId, response: JSON.stringify(auth.create(o)) });
      expect(res.ok).to.equal(true);
      const start = await r.passkeys.startAuthentication(db(), r.store);
      const fin = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: start.challengeHandle,
        response: JSON.stringify(auth.get(start.options)),
        requireUserVerification: true,
      });
      expect(fin.ok).to.equal(true);
    });

    it('rejects a wrong origin, a wrong RP ID, a wrong ceremony type and a missing UV for a passkey', async () => {
      const userId = await insertUser(db());
      const cases: [Parameters<SoftwareAuthenticator['create']>[1], string][] = [
        [{ origin: 'https://id.example.test.evil.example' }, 'origin_mismatch'],
        [{ origin: 'http://id.example.test' }, 'origin_mismatch'],
        [{ rpId: 'example.test' }, 'rp_id_mismatch'],
        [{ type: 'webauthn.get' }, 'wrong_type'],
        [{ uv: false }, 'user_verification_missing'],
        [{ up: false }, 'user_presence_missing'],
        [{ challenge: Buffer.alloc(32, 7).toString('base64url') }, 'challenge_mismatch'],
      ];
      for (const [override, reason] of cases) {
        const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
        const res = await r.passkeys.finishRegistration(db(), r.store, { userId, response: authenticator().create(o, override) });
        expect(res, reason).to.deep.equal({ ok: false, reason: 'invalid' });
      }
      expect(await listPasskeys(db(), userId)).to.deep.equal([]);
      const reasons = (await auditRows(db(), 'mfa.webauthn.registered', userId)).map((a) => a.details.reason);
      expect(reasons).to.deep.equal(cases.map(([, reason]) => reason));
    });

    it('a security key for a second factor may register without user verification', async () => {
      const userId = await insertUser(db());
      const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test', kind: 'security_key' });
      expect(o.authenticatorSelection).to.include({ residentKey: 'preferred', userVerification: 'preferred' });
      expect(o.hints).to.deep.equal(['security-key']);
      const res = await r.passkeys.finishRegistration(db(), r.store, {
        userId,
        response: authenticator({ userVerifying: false }).create(o),
      });
      expect(res.ok).to.equal(true);
    });

    it('a registration challenge is single-use and expires after five minutes', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      const response = auth.create(o);
      // The first finish fails (garbage), yet it consumed the challenge: the good response cannot use it.
      expect(await r.passkeys.finishRegistration(db(), r.store, { userId, response: { nope: true } })).to.deep.equal({
        ok: false,
        reason: 'invalid',
      });
      expect(await r.passkeys.finishRegistration(db(), r.store, { userId, response })).to.deep.equal({ ok: false, reason: 'expired' });

      const o2 = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      const ok = await r.passkeys.finishRegistration(db(), r.store, { userId, response: auth.create(o2) });
      expect(ok.ok).to.equal(true);
      // Replaying the same successful response finds no challenge.
      expect(await r.passkeys.finishRegistration(db(), r.store, { userId, response: auth.create(o2) })).to.deep.equal({
        ok: false,
        reason: 'expired',
      });

      const o3 = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      r.clock.now += CHALLENGE_TTL_MS + 1;
      expect(await r.passkeys.finishRegistration(db(), r.store, { userId, response: auth.create(o3) })).to.deep.equal({
        ok: false,
        reason: 'expired',
      });
      // A challenge belongs to the user it was issued for.
      const other = await insertUser(db());
      const o4 = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      expect(await r.passkeys.finishRegistration(db(), r.store, { userId: other, response: auth.create(o4) })).to.deep.equal({
        ok: false,
        reason: 'expired',
      });
    });

    it('a credential id is registered once across all users', async () => {
      const alice = await insertUser(db());
      const bob = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), alice, auth);
      // A (malicious or broken) authenticator presents the same credential id for Bob.
      const o = await r.passkeys.startRegistration(db(), r.store, { userId: bob, userName: 'bob@example.test' });
      const dup = auth.create(o);
      const original = [...auth.credentials.values()][0];
      const forged = JSON.parse(JSON.stringify(dup));
      // Re-encode the attestation with Alice's credential id in the attested credential data.
      const att = Buffer.from(dup.response.attestationObject, 'base64url');
      const newId = Buffer.from(dup.id, 'base64url');
      const idx = att.indexOf(newId);
      expect(idx).to.be.greaterThan(0);
      original?.id.copy(att, idx);
      forged.response.attestationObject = att.toString('base64url');
      forged.id = original?.id.toString('base64url');
      forged.rawId = forged.id;
      const res = await r.passkeys.finishRegistration(db(), r.store, { userId: bob, response: forged });
      expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await db()('webauthn_credentials').where({ credential_id: original?.id }).pluck('user_id')).to.deep.equal([alice]);
      const [audit] = await auditRows(db(), 'mfa.webauthn.registered', bob);
      expect(audit?.details.reason).to.equal('duplicate_credential');
      expect(audit?.details.credential_id_hash).to.match(/^[0-9a-f]{32}$/);
    });

    it('refuses unknown or disabled users and empty names', async () => {
      const disabled = await insertUser(db(), { status: 'disabled', disabled_at: new Date() });
      const unknown = '00000000-0000-7000-8000-000000000000';
      for (const userId of [disabled, unknown]) {
        const err = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'x@example.test' }).catch((e) => e);
        expect(err).to.be.instanceOf(AppError).with.property('code', 'not_found');
      }
      const userId = await insertUser(db());
      const err = await r.passkeys.startRegistration(db(), r.store, { userId, userName: ' \u200b ' }).catch((e) => e);
      expect(err).to.be.instanceOf(AppError).with.property('code', 'validation_failed');
    });

    it('a user disabled between start and finish gets no credential', async () => {
      const userId = await insertUser(db());
      const o = await r.passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' });
      await db()('users').where({ id: userId }).update({ status: 'disabled', disabled_at: new Date() });
      const res = await r.passkeys.finishRegistration(db(), r.store, { userId, response: authenticator().create(o) });
      expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
      expect((await auditRows(db(), 'mfa.webauthn.registered', userId))[0]?.details.reason).to.equal('user_inactive');
    });
  });

  describe('authentication', () => {
    it('passwordless with a discoverable credential: no allow list, user from the credential, hwk + mfa', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      const credentialId = await register(r, db(), userId, auth);

      const start = await r.passkeys.startAuthentication(db(), r.store);
      expect(start.options.allowCredentials).to.deep.equal([]);
      expect(start.options.userVerification).to.equal('required');
      expect(start.options.rpId).to.equal(RP_ID);
      expect(start.challengeHandle).to.match(/^[A-Za-z0-9_-]{43}$/);

      const res = await r.passkeys.finishAuthentication(
        db(),
        r.store,
        { challengeHandle: start.challengeHandle, response: auth.get(start.options), requireUserVerification: true },
        { ip: '198.51.100.7', requestId: 'req-1' },
      );
      expect(res).to.deep.equal({
        ok: true,
        userId,
        credentialId,
        userVerified: true,
        amr: ['hwk', 'mfa'],
        backupEligible: false,
        backedUp: false,
        counterRegression: false,
      });
      const row = await credentialRow(credentialId);
      expect(Number(row.counter)).to.equal(1);
      expect(row.last_used_at).to.be.instanceOf(Date);
      const [audit] = await auditRows(db(), 'auth.webauthn.verified', userId);
      expect(audit).to.deep.include({ outcome: 'success', actor_id: userId, target_id: userId });
      expect(audit?.details).to.deep.include({ credential_id: credentialId, user_verified: true, discoverable: true, amr: ['hwk', 'mfa'] });
      // Never the challenge, the handle or the raw response in the audit trail.
      const text = JSON.stringify(await db()('audit_events').select('details'));
      expect(text).not.to.include(start.options.challenge);
      expect(text).not.to.include(start.challengeHandle);
      expect(text).not.to.include(auth.credentialId);
    });

    it('as a second factor for a known user: only their credentials, UV optional unless required', async () => {
      const userId = await insertUser(db());
      const auth = authenticator({ userVerifying: false });
      const credentialId = await register(r, db(), userId, auth, { kind: 'security_key' });

      const start = await r.passkeys.startAuthentication(db(), r.store, { userId });
      expect(start.options.userVerification).to.equal('preferred');
      expect(start.options.allowCredentials).to.deep.equal([{ id: auth.credentialId, type: 'public-key', transports: ['usb'] }]);
      const ok = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: start.challengeHandle,
        response: auth.get(start.options, { userHandle: null }),
        requireUserVerification: false,
      });
      expect(ok).to.deep.include({ ok: true, userId, credentialId, userVerified: false, amr: ['hwk'] });

      // The same authenticator without UV where UV is required (by the caller or by the challenge).
      const s2 = await r.passkeys.startAuthentication(db(), r.store, { userId });
      const uvByCaller = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: s2.challengeHandle,
        response: auth.get(s2.options),
        requireUserVerification: true,
      });
      expect(uvByCaller).to.deep.equal({ ok: false, reason: 'invalid' });
      const s3 = await r.passkeys.startAuthentication(db(), r.store, { userId, userVerification: 'required' });
      const uvByChallenge = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: s3.challengeHandle,
        response: auth.get(s3.options),
        requireUserVerification: false,
      });
      expect(uvByChallenge).to.deep.equal({ ok: false, reason: 'invalid' });
      const reasons = (await auditRows(db(), 'auth.webauthn.verified', userId)).map((a) => a.details.reason);
      expect(reasons).to.deep.equal([undefined, 'user_verification_missing', 'user_verification_missing']);
    });

    it('UV required but absent in a passwordless sign-in is rejected', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const start = await r.passkeys.startAuthentication(db(), r.store);
      const res = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: start.challengeHandle,
        response: auth.get(start.options, { uv: false }),
        requireUserVerification: true,
      });
      expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
    });

    it('rejects a wrong origin and a wrong RP ID hash; configured extra origins are accepted', async () => {
      r = rig({ extraOrigins: ['https://login.id.example.test'] });
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const attempt = async (o: Parameters<SoftwareAuthenticator['get']>[1]) => {
        const start = await r.passkeys.startAuthentication(db(), r.store);
        return r.passkeys.finishAuthentication(db(), r.store, {
          challengeHandle: start.challengeHandle,
          response: auth.get(start.options, o),
          requireUserVerification: true,
        });
      };
      expect(await attempt({ origin: 'https://evil.example' })).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt({ origin: 'https://id.example.test:8443' })).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt({ rpId: 'evil.example' })).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt({ type: 'webauthn.create' })).to.deep.equal({ ok: false, reason: 'invalid' });
      expect((await attempt({ origin: 'https://login.id.example.test' })).ok).to.equal(true);
      expect((await attempt({})).ok).to.equal(true);
      const reasons = (await auditRows(db(), 'auth.webauthn.verified', userId)).map((a) => a.details.reason);
      expect(reasons).to.deep.equal(['origin_mismatch', 'origin_mismatch', 'rp_id_mismatch', 'wrong_type', undefined, undefined]);
    });

    it('a challenge is single-use: replaying an assertion, or signing it again, fails', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const start = await r.passkeys.startAuthentication(db(), r.store);
      const response = auth.get(start.options);
      const input = { challengeHandle: start.challengeHandle, response, requireUserVerification: true };
      expect((await r.passkeys.finishAuthentication(db(), r.store, input)).ok).to.equal(true);
      expect(await r.passkeys.finishAuthentication(db(), r.store, input)).to.deep.equal({ ok: false, reason: 'expired' });
      // A fresh signature (higher counter) over the used challenge, through the same handle.
      const resigned = auth.get(start.options);
      expect(await r.passkeys.finishAuthentication(db(), r.store, { ...input, response: resigned })).to.deep.equal({
        ok: false,
        reason: 'expired',
      });
      // ... or through a new handle: the challenge inside does not match the new one.
      const next = await r.passkeys.startAuthentication(db(), r.store);
      expect(
        await r.passkeys.finishAuthentication(db(), r.store, {
          challengeHandle: next.challengeHandle,
          response: resigned,
          requireUserVerification: true,
        }),
      ).to.deep.equal({ ok: false, reason: 'invalid' });
      // Parallel finishes with one handle: exactly one gets the challenge.
      const par = await r.passkeys.startAuthentication(db(), r.store);
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          r.passkeys.finishAuthentication(db(), r.store, {
            challengeHandle: par.challengeHandle,
            response: auth.get(par.options),
            requireUserVerification: true,
          }),
        ),
      );
      expect(results.filter((x) => x.ok)).to.have.length(1);
      // Unknown, malformed and expired handles.
      for (const challengeHandle of ['nope', 'A'.repeat(43), 42 as unknown as string]) {
        expect(await r.passkeys.finishAuthentication(db(), r.store, { ...input, challengeHandle })).to.deep.equal({
          ok: false,
          reason: 'expired',
        });
      }
      const late = await r.passkeys.startAuthentication(db(), r.store);
      r.clock.now += CHALLENGE_TTL_MS + 1;
      expect(
        await r.passkeys.finishAuthentication(db(), r.store, {
          challengeHandle: late.challengeHandle,
          response: auth.get(late.options),
          requireUserVerification: true,
        }),
      ).to.deep.equal({ ok: false, reason: 'expired' });
    });

    it('an unknown credential, a bad signature and a malformed response get the same generic answer', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const stranger = authenticator();
      stranger.create({
        rp: { id: RP_ID, name: 'x' },
        user: { id: 'AAAA', name: 'x', displayName: 'x' },
        challenge: 'AAAA',
        pubKeyCredParams: [],
      });
      const results = [];
      for (const make of [
        (o: Parameters<SoftwareAuthenticator['get']>[0]) => stranger.get(o),
        (o: Parameters<SoftwareAuthenticator['get']>[0]) => auth.get(o, { corruptSignature: true }),
        () => ({ id: 'x', rawId: 'x', type: 'public-key', response: {} }),
        () => '{not json',
      ]) {
        const start = await r.passkeys.startAuthentication(db(), r.store);
        results.push(
          await r.passkeys.finishAuthentication(db(), r.store, {
            challengeHandle: start.challengeHandle,
            response: make(start.options),
            requireUserVerification: true,
          }),
        );
      }
      expect(results).to.deep.equal(Array(4).fill({ ok: false, reason: 'invalid' }));
      const rows = await auditRows(db(), 'auth.webauthn.verified');
      const tail = rows.slice(-4);
      expect(tail.map((a) => a.details.reason)).to.deep.equal(['unknown_credential', 'bad_signature', 'malformed', 'malformed']);
      expect(tail[0]).to.deep.include({ actor_type: 'anonymous', target_id: null });
      expect(tail[0]?.details.credential_id_hash).to.match(/^[0-9a-f]{32}$/);
    });

    it("a second-factor ceremony for one user rejects another user's credential", async () => {
      const alice = await insertUser(db());
      const mallory = await insertUser(db());
      await register(r, db(), alice, authenticator());
      const malloryAuth = authenticator();
      await register(r, db(), mallory, malloryAuth);
      const start = await r.passkeys.startAuthentication(db(), r.store, { userId: alice });
      const res = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: start.challengeHandle,
        response: malloryAuth.get(start.options, { credentialId: malloryAuth.credentialId }),
        requireUserVerification: false,
      });
      expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
      const [audit] = await auditRows(db(), 'auth.webauthn.verified', alice);
      expect(audit?.details.reason).to.equal('credential_not_allowed');
    });

    it('a discoverable sign-in needs the right user handle and an active user', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const other = await insertUser(db());
      await register(r, db(), other, authenticator());
      const otherHandle = ((await db()('users').where({ id: other }).first()).webauthn_user_handle as Buffer).toString('base64url');
      const attempt = async (o: Parameters<SoftwareAuthenticator['get']>[1]) => {
        const start = await r.passkeys.startAuthentication(db(), r.store);
        return r.passkeys.finishAuthentication(db(), r.store, {
          challengeHandle: start.challengeHandle,
          response: auth.get(start.options, o),
          requireUserVerification: true,
        });
      };
      expect(await attempt({ userHandle: otherHandle })).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt({ userHandle: null })).to.deep.equal({ ok: false, reason: 'invalid' });
      await db()('users').where({ id: userId }).update({ status: 'disabled', disabled_at: new Date() });
      expect(await attempt({})).to.deep.equal({ ok: false, reason: 'invalid' });
      const reasons = (await auditRows(db(), 'auth.webauthn.verified', userId)).map((a) => a.details.reason);
      expect(reasons).to.deep.equal(['user_handle_mismatch', 'user_handle_missing', 'user_inactive']);
      // A disabled user's second factor is not offered either.
      const err = await r.passkeys.startAuthentication(db(), r.store, { userId }).catch((e) => e);
      expect(err).to.be.instanceOf(AppError).with.property('code', 'not_found');
    });

    it('refuses a credential whose backup eligibility changed', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const start = await r.passkeys.startAuthentication(db(), r.store);
      const res = await r.passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: start.challengeHandle,
        response: auth.get(start.options, { be: true, bs: true }),
        requireUserVerification: true,
      });
      expect(res).to.deep.equal({ ok: false, reason: 'invalid' });
      expect((await auditRows(db(), 'auth.webauthn.verified', userId))[0]?.details.reason).to.equal('backup_eligibility_changed');
    });
  });

  describe('signature counter (ADR-0014)', () => {
    async function signIn(auth: SoftwareAuthenticator, counter?: number) {
      const start = await r.passkeys.startAuthentication(db(), r.store);
      return r.passkeys.finishAuthentication(
        db(),
        r.store,
        {
          challengeHandle: start.challengeHandle,
          response: auth.get(start.options, counter === undefined ? {} : { counter }),
          requireUserVerification: true,
        },
        { ip: '203.0.113.9' },
      );
    }

    it('a device-bound key whose counter goes backwards is rejected, audited and logged', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      const credentialId = await register(r, db(), userId, auth);
      expect((await signIn(auth, 5)).ok).to.equal(true);
      expect(await signIn(auth, 5)).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await signIn(auth, 3)).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await signIn(auth, 0)).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(Number((await credentialRow(credentialId)).counter)).to.equal(5);
      expect((await signIn(auth, 6)).ok).to.equal(true);

      const signals = await auditRows(db(), 'auth.webauthn.counter_regression', userId);
      expect(signals.map((s) => [s.details.stored_counter, s.details.received_counter, s.details.decision])).to.deep.equal([
        [5, 5, 'rejected'],
        [5, 3, 'rejected'],
        [5, 0, 'rejected'],
      ]);
      expect(signals[0]).to.deep.include({ outcome: 'failure', target_id: userId });
      const failures = (await auditRows(db(), 'auth.webauthn.verified', userId)).filter((a) => a.outcome === 'failure');
      expect(failures.map((a) => a.details.reason)).to.deep.equal(['counter_regression', 'counter_regression', 'counter_regression']);
      expect(r.logs.filter((l) => String(l.msg).includes('counter went backwards'))).to.have.length(3);
    });

    it('a synced passkey whose counter goes backwards is accepted as swk, with the risk signal recorded', async () => {
      const userId = await insertUser(db());
      const auth = authenticator({ backupEligible: true, backedUp: true });
      const credentialId = await register(r, db(), userId, auth);
      expect((await signIn(auth, 10)).ok).to.equal(true);
      const res = await signIn(auth, 4);
      expect(res).to.deep.include({
        ok: true,
        userId,
        credentialId,
        amr: ['swk', 'mfa'],
        backupEligible: true,
        backedUp: true,
        counterRegression: true,
      });
      // The stored counter never goes down.
      expect(Number((await credentialRow(credentialId)).counter)).to.equal(10);
      const [signal] = await auditRows(db(), 'auth.webauthn.counter_regression', userId);
      expect(signal?.details).to.include({ stored_counter: 10, received_counter: 4, decision: 'accepted', backup_eligible: true });
      const ok = (await auditRows(db(), 'auth.webauthn.verified', userId)).at(-1);
      expect(ok?.details).to.include({ counter_regression: true });
    });

    it('counters that stay at zero (no counter implemented) are fine and no signal', async () => {
      const userId = await insertUser(db());
      const auth = authenticator({ backupEligible: true, backedUp: false, counterStep: 0 });
      const credentialId = await register(r, db(), userId, auth);
      for (let i = 0; i < 3; i++) expect(await signIn(auth)).to.deep.include({ ok: true, amr: ['swk', 'mfa'], backedUp: false });
      expect(Number((await credentialRow(credentialId)).counter)).to.equal(0);
      expect(await auditRows(db(), 'auth.webauthn.counter_regression', userId)).to.deep.equal([]);
      // The backup state follows the authenticator (BS may turn on later).
      auth.opts.backedUp = true;
      expect(await signIn(auth)).to.deep.include({ ok: true, backedUp: true });
      expect((await credentialRow(credentialId)).backed_up).to.equal(true);
    });
  });

  describe('brute-force protection', () => {
    it('failures count toward the webauthn lockout of the credential owner', async () => {
      r = rig({ lockoutThreshold: 2 });
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const attempt = async (corrupt: boolean) => {
        const start = await r.passkeys.startAuthentication(db(), r.store);
        return r.passkeys.finishAuthentication(db(), r.store, {
          challengeHandle: start.challengeHandle,
          response: auth.get(start.options, { corruptSignature: corrupt }),
          requireUserVerification: true,
        });
      };
      expect(await attempt(true)).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt(true)).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt(false)).to.deep.equal({ ok: false, reason: 'locked' });
      const counter = await db()('auth_failure_counters').where({ user_id: userId, factor: 'webauthn' }).first();
      expect(counter.locked_until, 'locked until a reset or an admin unlock').not.to.equal(null);
      expect((await auditRows(db(), 'auth.attempt.refused', userId))[0]?.details).to.include({ factor: 'webauthn', reason: 'locked' });
    });

    it('failures with unknown credentials are throttled per source address', async () => {
      r = rig({ throttle: { ip_free_failures: 2, ip_backoff_base_s: 30 } });
      const stranger = authenticator();
      stranger.create({
        rp: { id: RP_ID, name: 'x' },
        user: { id: 'AAAA', name: 'x', displayName: 'x' },
        challenge: 'AAAA',
        pubKeyCredParams: [],
      });
      const attempt = async (ip: string) => {
        const start = await r.passkeys.startAuthentication(db(), r.store);
        return r.passkeys.finishAuthentication(
          db(),
          r.store,
          { challengeHandle: start.challengeHandle, response: stranger.get(start.options), requireUserVerification: true },
          { ip },
        );
      };
      // Two free failures, then the third starts a backoff for the address.
      for (let i = 0; i < 3; i++) expect(await attempt('192.0.2.1')).to.deep.equal({ ok: false, reason: 'invalid' });
      expect(await attempt('192.0.2.1')).to.deep.include({ ok: false, reason: 'rate_limited', retryAfterSeconds: 30 });
      expect(await attempt('192.0.2.2')).to.deep.equal({ ok: false, reason: 'invalid' });
      const refused = (await auditRows(db(), 'auth.attempt.refused')).at(-1);
      expect(refused?.details).to.include({ factor: 'webauthn', reason: 'rate_limited' });
    });

    it('refuses (fails closed) when the limiter store is unavailable', async () => {
      const userId = await insertUser(db());
      const auth = authenticator();
      await register(r, db(), userId, auth);
      const start = await r.passkeys.startAuthentication(db(), r.store);
      // The throttle's store is down; the challenge store still works.
      const down = async () => {
        throw new Error('connection refused');
      };
      const failing = {
        mode: 'redis',
        get: down,
        set: down,
        setIfAbsent: down,
        getDel: down,
        del: down,
        incr: down,
      } as unknown as KeyValueStore;
      const throttle = createAuthThrottle({ store: failing, config: throttleConfig() });
      const passkeys = createPasskeyService({
        relyingParty: r.rp,
        throttle,
        guard: createFactorGuard({ throttle, lockoutThreshold: 100 }),
      });
      const res = await passkeys.finishAuthentication(
        db(),
        r.store,
        { challengeHandle: start.challengeHandle, response: auth.get(start.options), requireUserVerification: true },
        { ip: '192.0.2.50' },
      );
      expect(res).to.deep.include({ ok: false, reason: 'limiter_unavailable' });
      // Without a source address the guard (per account) refuses as well.
      const s2 = await r.passkeys.startAuthentication(db(), r.store);
      const res2 = await passkeys.finishAuthentication(db(), r.store, {
        challengeHandle: s2.challengeHandle,
        response: auth.get(s2.options),
        requireUserVerification: true,
      });
      expect(res2).to.deep.include({ ok: false, reason: 'limiter_unavailable' });
    });
  });

  describe('availability', () => {
    it('an IP-address issuer cannot host passkeys: the ceremonies throw unavailable', async () => {
      const rp = createRelyingParty({ issuer: 'http://127.0.0.1:8080' });
      expect(rp.available).to.equal(false);
      const passkeys = createPasskeyService({ relyingParty: rp, throttle: {} as never, guard: {} as never });
      const userId = await insertUser(db());
      for (const call of [
        () => passkeys.startRegistration(db(), r.store, { userId, userName: 'a@example.test' }),
        () => passkeys.startAuthentication(db(), r.store),
      ]) {
        const err = await call().catch((e) => e);
        expect(err).to.be.instanceOf(AppError).with.property('code', 'unavailable');
      }
      expect(createRelyingParty({ issuer: ISSUER }).origins).to.deep.equal([ORIGIN]);
    });
  });
});
