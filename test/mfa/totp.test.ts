import { expect } from 'chai';
import { EnvelopeError } from '../../src/crypto/index.ts';
import {
  confirmTotp,
  enrolTotp,
  getTotpCredential,
  removeTotp,
  TOTP_ENROLMENT_TTL_SECONDS,
  type TotpEnrolment,
  toBase32,
  verifyTotp,
} from '../../src/mfa/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { auditRows, dumpDatabaseText, fromBase32, insertUser, newKek, spellings, totpAt } from './support.ts';

const STEP = 30_000;
const at = (base: Date, offsetMs: number) => new Date(base.getTime() + offsetMs);
const codeAt = (e: TotpEnrolment, when: Date) => totpAt(fromBase32(e.secretBase32), Math.floor(when.getTime() / 1000));
/** A time aligned to the middle of a step, `minutes` from now (confirmation sets last_used_step to now's step). */
const later = (minutes: number) => new Date(Math.floor((Date.now() + minutes * 60_000) / STEP) * STEP + 15_000);

describe('mfa: TOTP', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  const kek = newKek();

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  async function enrolled(): Promise<{ userId: string; e: TotpEnrolment; confirmedAt: Date }> {
    const userId = await insertUser(database.db);
    const e = await enrolTotp(database.db, kek, { userId, accountName: 'alice@example.test', serviceName: 'InfraNotes' });
    const now = new Date();
    const r = await confirmTotp(database.db, kek, { userId, credentialId: e.credentialId, code: codeAt(e, now), now });
    expect(r.ok).to.equal(true);
    return { userId, e, confirmedAt: now };
  }

  it('the independent RFC 6238 helper matches the RFC test vector', () => {
    // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits).
    expect(totpAt(Buffer.from('12345678901234567890'), 59, 8)).to.equal('94287082');
    expect(toBase32(Buffer.from('12345678901234567890'))).to.equal('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  it('enrolment returns a 160-bit seed, an otpauth URI and a locally rendered SVG QR code', async () => {
    const userId = await insertUser(database.db);
    const e = await enrolTotp(database.db, kek, { userId, accountName: 'alice@example.test', serviceName: 'InfraNotes: IAM' });
    expect(e.secretBase32).to.match(/^[A-Z2-7]{32}$/);
    expect(fromBase32(e.secretBase32)).to.have.length(20);
    const uri = new URL(e.otpauthUri);
    expect(uri.protocol).to.equal('otpauth:');
    expect(uri.host).to.equal('totp');
    expect(uri.searchParams.get('secret')).to.equal(e.secretBase32);
    expect(uri.searchParams.get('issuer')).to.equal('InfraNotes IAM');
    expect(decodeURIComponent(uri.pathname)).to.equal('/InfraNotes IAM:alice@example.test');
    expect(e.qrSvg.trimStart()).to.match(/^<svg /);
    expect(e.qrSvg).not.to.match(/<script|<image|href=|<foreignObject/i);
    // Unconfirmed: not offered at sign-in yet.
    expect(await getTotpCredential(database.db, userId)).to.equal(null);
    expect((await verifyTotp(database.db, kek, userId, codeAt(e, new Date()))).ok).to.equal(false);
    // A second enrolment replaces the pending one.
    const e2 = await enrolTotp(database.db, kek, { userId, accountName: 'alice@example.test', serviceName: 'InfraNotes' });
    expect(await database.db('totp_credentials').where({ user_id: userId }).pluck('id')).to.deep.equal([e2.credentialId]);
    const r = await confirmTotp(database.db, kek, { userId, credentialId: e.credentialId, code: codeAt(e, new Date()) });
    expect(r).to.deep.equal({ ok: false, reason: 'not_found' });
  });

  it('confirmation needs a valid code, records its step and makes the credential usable', async () => {
    const userId = await insertUser(database.db);
    const e = await enrolTotp(database.db, kek, { userId, accountName: 'a@example.test', serviceName: 'InfraNotes' });
    const now = new Date();
    const wrong = String((Number(codeAt(e, now)) + 1) % 1_000_000).padStart(6, '0');
    expect(await confirmTotp(database.db, kek, { userId, credentialId: e.credentialId, code: wrong, now })).to.deep.equal({
      ok: false,
      reason: 'invalid',
    });
    const other = await insertUser(database.db);
    expect(await confirmTotp(database.db, kek, { userId: other, credentialId: e.credentialId, code: codeAt(e, now), now })).to.deep.equal({
      ok: false,
      reason: 'not_found',
    });
    expect(await confirmTotp(database.db, kek, { userId, credentialId: e.credentialId, code: codeAt(e, now), now })).to.deep.equal({
      ok: true,
      replacedCredentialIds: [],
    });
    const cred = await getTotpCredential(database.db, userId);
    expect(cred?.credentialId).to.equal(e.credentialId);
    // The confirming code cannot be replayed at sign-in.
    expect(await verifyTotp(database.db, kek, userId, codeAt(e, now), now)).to.deep.equal({ ok: false, reason: 'invalid' });
    const confirms = (await auditRows(database.db, 'mfa.totp.confirmed')).filter((r) => r.target_id === userId);
    expect(confirms.map((r) => r.outcome)).to.deep.equal(['failure', 'success']);
  });

  it('an enrolment left unconfirmed too long expires', async () => {
    const userId = await insertUser(database.db);
    const e = await enrolTotp(database.db, kek, { userId, accountName: 'a@example.test', serviceName: 'InfraNotes' });
    const late = at(new Date(), (TOTP_ENROLMENT_TTL_SECONDS + 60) * 1000);
    expect(await confirmTotp(database.db, kek, { userId, credentialId: e.credentialId, code: codeAt(e, late), now: late })).to.deep.equal({
      ok: false,
      reason: 'expired',
    });
    expect(await database.db('totp_credentials').where({ user_id: userId }).count('* as n').first()).to.deep.equal({ n: 0 });
  });

  it('accepts codes of t-30 s, t and t+30 s; rejects t±60 s', async () => {
    const { userId, e } = await enrolled();
    const t = later(10);
    // Ascending steps, so each acceptance is a fresh step.
    for (const offset of [-STEP, 0, STEP]) {
      const r = await verifyTotp(database.db, kek, userId, codeAt(e, at(t, offset)), t);
      expect(r, `offset ${offset / 1000}s`).to.deep.equal({ ok: true, credentialId: e.credentialId });
    }
    const t2 = later(20);
    for (const offset of [-2 * STEP, 2 * STEP]) {
      expect((await verifyTotp(database.db, kek, userId, codeAt(e, at(t2, offset)), t2)).ok, `offset ${offset / 1000}s`).to.equal(false);
    }
    // Spaces as apps display them are fine; anything else is not a code.
    expect((await verifyTotp(database.db, kek, userId, codeAt(e, t2).replace(/^(\d{3})/, '$1 '), t2)).ok).to.equal(true);
    for (const bad of ['', '12345', '1234567', 'abcdef', '１２３４５６']) {
      expect((await verifyTotp(database.db, kek, userId, bad, t2)).ok, bad).to.equal(false);
    }
    const failures = (await auditRows(database.db, 'auth.totp.verified')).filter((r) => r.target_id === userId && r.outcome === 'failure');
    expect(failures.slice(0, 2).map((r) => r.details.reason)).to.deep.equal(['mismatch', 'mismatch']);
  });

  it('rejects the replay of a used code, also later within its window and after a newer code', async () => {
    const { userId, e } = await enrolled();
    const t = later(30);
    const code = codeAt(e, t);
    expect((await verifyTotp(database.db, kek, userId, code, t)).ok).to.equal(true);
    expect(await verifyTotp(database.db, kek, userId, code, t)).to.deep.equal({ ok: false, reason: 'invalid' });
    expect(await verifyTotp(database.db, kek, userId, code, at(t, STEP))).to.deep.equal({ ok: false, reason: 'invalid' });
    // A newer code works; the previous step's code is then refused even though it is within the window.
    expect((await verifyTotp(database.db, kek, userId, codeAt(e, at(t, STEP)), at(t, STEP))).ok).to.equal(true);
    expect((await verifyTotp(database.db, kek, userId, code, at(t, STEP))).ok).to.equal(false);
    const reasons = (await auditRows(database.db, 'auth.totp.verified')).filter((r) => r.target_id === userId && r.outcome === 'failure');
    expect(reasons.map((r) => r.details.reason)).to.deep.equal(['replay', 'replay', 'replay']);
  });

  it('20 parallel verifications of one code: exactly one succeeds', async () => {
    const { userId, e } = await enrolled();
    const t = later(40);
    const code = codeAt(e, t);
    const results = await Promise.all(Array.from({ length: 20 }, () => verifyTotp(database.db, kek, userId, code, t)));
    expect(results.filter((r) => r.ok)).to.have.length(1);
    expect(results.filter((r) => !r.ok && r.reason === 'invalid')).to.have.length(19);
    const row = await database.db('totp_credentials').where({ id: e.credentialId }).first('last_used_step');
    expect(Number(row.last_used_step)).to.equal(Math.floor(t.getTime() / STEP));
  });

  it('stores the seed only sealed: neither it nor any code appears anywhere in the database', async () => {
    const { userId, e, confirmedAt } = await enrolled();
    const t = later(50);
    const code = codeAt(e, t);
    await verifyTotp(database.db, kek, userId, code, t);
    const dump = await dumpDatabaseText(database.db);
    const seed = fromBase32(e.secretBase32);
    for (const s of [e.secretBase32, e.secretBase32.toLowerCase(), ...spellings(seed)]) expect(dump).not.to.include(s);
    expect(dump).not.to.include(e.otpauthUri);
    const envelope = (await database.db('totp_credentials').where({ id: e.credentialId }).first('secret_envelope')).secret_envelope;
    expect(envelope).to.include.keys('v', 'kek_id', 'wrapped_dek', 'ciphertext', 'iv', 'tag');
    // Audit details never carry the code or the seed.
    const details = JSON.stringify(await database.db('audit_events').where({ target_id: userId }).pluck('details'));
    expect(details).not.to.include(code);
    expect(details).not.to.include(codeAt(e, confirmedAt));
  });

  it('a wrong KEK cannot open the seed, and an envelope moved to another user does not open', async () => {
    const { userId, e } = await enrolled();
    const t = later(60);
    let err: unknown;
    try {
      await verifyTotp(database.db, newKek(), userId, codeAt(e, t), t);
    } catch (x) {
      err = x;
    }
    expect(err).to.be.instanceOf(EnvelopeError);
    expect((err as EnvelopeError).reason).to.equal('kek_mismatch');

    // Copy the sealed seed onto another user's credential: AAD (user id + credential id) refuses it.
    const victim = await enrolled();
    const envelope = (await database.db('totp_credentials').where({ id: e.credentialId }).first('secret_envelope')).secret_envelope;
    await database
      .db('totp_credentials')
      .where({ id: victim.e.credentialId })
      .update({ secret_envelope: JSON.stringify(envelope) });
    err = undefined;
    try {
      await verifyTotp(database.db, kek, victim.userId, codeAt(e, t), t);
    } catch (x) {
      err = x;
    }
    expect((err as EnvelopeError).reason).to.equal('envelope_invalid');
  });

  it('re-enrolment replaces the confirmed credential only once the new one is confirmed', async () => {
    const { userId, e } = await enrolled();
    const e2 = await enrolTotp(database.db, kek, { userId, accountName: 'a@example.test', serviceName: 'InfraNotes' });
    // The old authenticator keeps working while the new one is pending.
    const t = later(70);
    expect((await verifyTotp(database.db, kek, userId, codeAt(e, t), t)).ok).to.equal(true);
    const now = new Date();
    const r = await confirmTotp(database.db, kek, { userId, credentialId: e2.credentialId, code: codeAt(e2, now), now });
    expect(r).to.deep.equal({ ok: true, replacedCredentialIds: [e.credentialId] });
    const t2 = later(80);
    expect((await verifyTotp(database.db, kek, userId, codeAt(e, t2), t2)).ok).to.equal(false);
    expect(await verifyTotp(database.db, kek, userId, codeAt(e2, t2), t2)).to.deep.equal({ ok: true, credentialId: e2.credentialId });
  });

  it('removal ends TOTP for the user and is audited', async () => {
    const { userId, e } = await enrolled();
    expect(await removeTotp(database.db, { userId: await insertUser(database.db), credentialId: e.credentialId })).to.equal(0);
    expect(await removeTotp(database.db, { userId, credentialId: e.credentialId })).to.equal(1);
    const t = later(90);
    expect(await verifyTotp(database.db, kek, userId, codeAt(e, t), t)).to.deep.equal({ ok: false, reason: 'not_enrolled' });
    expect(await getTotpCredential(database.db, userId)).to.equal(null);
    const removed = (await auditRows(database.db, 'mfa.totp.removed')).filter((r) => r.target_id === userId);
    expect(removed).to.have.length(1);
    expect(removed[0]?.details.credential_ids).to.deep.equal([e.credentialId]);
    const enrolledEvents = (await auditRows(database.db, 'mfa.totp.enrolled')).filter((r) => r.target_id === userId);
    expect(enrolledEvents).to.have.length(1);
  });

  it('enrolment refuses unknown and disabled users', async () => {
    const disabled = await insertUser(database.db, { status: 'disabled', disabled_at: new Date() });
    for (const userId of [disabled, '00000000-0000-7000-8000-000000000000', 'not-a-uuid']) {
      let err: unknown;
      try {
        await enrolTotp(database.db, kek, { userId, accountName: 'x@example.test', serviceName: 'InfraNotes' });
      } catch (x) {
        err = x;
      }
      expect((err as { code?: string }).code, userId).to.equal('not_found');
    }
  });
});
