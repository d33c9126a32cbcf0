import { expect } from 'chai';
import {
  consumeToken,
  countRecentTokens,
  generateBrowserBinding,
  hashOneTimeToken,
  invalidateTokens,
  issueToken,
  ONE_TIME_TOKEN_PURPOSES,
  peekToken,
  purgeExpiredTokens,
} from '../../src/identity/one-time-tokens.ts';
import { auditRows, dumpDatabaseText, insertUser, spellings } from '../mfa/support.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function errorOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('identity: one-time tokens (magic link, reset, verification, email change)', function () {
  this.timeout(60_000);
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  it('round trip: a 256-bit base64url token redeems once and returns its record', async () => {
    const userId = await insertUser(database.db);
    const issued = await issueToken(database.db, {
      purpose: 'password_reset',
      userId,
      email: 'Alice@Example.test',
      context: { interaction: 'abc' },
    });
    expect(issued.token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(issued.token, 'base64url')).to.have.length(32);
    expect(issued.expiresAt.getTime() - Date.now()).to.be.within(1790_000, 1805_000);
    const r = await consumeToken(database.db, { purpose: 'password_reset', token: issued.token });
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.record).to.include({ id: issued.id, purpose: 'password_reset', userId, email: 'Alice@Example.test', browserBound: false });
    expect(r.record.context).to.deep.equal({ interaction: 'abc' });
    expect(r.record.consumedAt).to.be.instanceOf(Date);
  });

  it('reuse is rejected as used', async () => {
    const { token } = await issueToken(database.db, { purpose: 'email_verification', email: 'x@example.test' });
    expect((await consumeToken(database.db, { purpose: 'email_verification', token })).ok).to.equal(true);
    expect(await consumeToken(database.db, { purpose: 'email_verification', token })).to.deep.equal({ ok: false, reason: 'used' });
  });

  it('an expired token is rejected as expired', async () => {
    const { token } = await issueToken(database.db, { purpose: 'magic_link', email: 'x@example.test', ttlSeconds: 1 });
    await sleep(1_200);
    expect(await consumeToken(database.db, { purpose: 'magic_link', token })).to.deep.equal({ ok: false, reason: 'expired' });
    expect(await peekToken(database.db, { purpose: 'magic_link', token })).to.deep.equal({ ok: false, reason: 'expired' });
  });

  it('a token of another purpose, an unknown or a malformed token is invalid', async () => {
    const { token } = await issueToken(database.db, { purpose: 'email_verification', email: 'x@example.test' });
    expect(await consumeToken(database.db, { purpose: 'password_reset', token })).to.deep.equal({ ok: false, reason: 'invalid' });
    expect(await consumeToken(database.db, { purpose: 'magic_link', token })).to.deep.equal({ ok: false, reason: 'invalid' });
    for (const bad of ['A'.repeat(43), `${token}x`, '', 'not a token', `${token.slice(0, 42)}=`]) {
      expect(await consumeToken(database.db, { purpose: 'email_verification', token: bad }), bad).to.deep.equal({
        ok: false,
        reason: 'invalid',
      });
    }
    // The wrong-purpose attempts did not consume it.
    expect((await consumeToken(database.db, { purpose: 'email_verification', token })).ok).to.equal(true);
    expect(await errorOf(() => consumeToken(database.db, { purpose: 'bogus' as 'magic_link', token }))).to.be.instanceOf(TypeError);
  });

  it('a browser-bound magic link opened in another browser is refused as wrong_browser and stays unconsumed', async () => {
    const userId = await insertUser(database.db);
    const binding = generateBrowserBinding();
    const { token } = await issueToken(database.db, { purpose: 'magic_link', userId, email: 'a@example.test', browserBinding: binding });
    expect(await consumeToken(database.db, { purpose: 'magic_link', token })).to.deep.equal({ ok: false, reason: 'wrong_browser' });
    expect(await consumeToken(database.db, { purpose: 'magic_link', token, browserBinding: generateBrowserBinding() })).to.deep.equal({
      ok: false,
      reason: 'wrong_browser',
    });
    expect(await peekToken(database.db, { purpose: 'magic_link', token })).to.deep.equal({ ok: false, reason: 'wrong_browser' });
    const row = await database
      .db('one_time_tokens')
      .where({ token_hash: hashOneTimeToken(token) })
      .first('consumed_at');
    expect(row.consumed_at).to.equal(null);
    // The requesting browser redeems it.
    const r = await consumeToken(database.db, { purpose: 'magic_link', token, browserBinding: binding });
    expect(r.ok && r.record.browserBound).to.equal(true);
    expect(await consumeToken(database.db, { purpose: 'magic_link', token, browserBinding: binding })).to.deep.equal({
      ok: false,
      reason: 'used',
    });
  });

  it('after explicit confirmation the other browser may redeem it (allowOtherBrowser), once', async () => {
    const { token } = await issueToken(database.db, {
      purpose: 'magic_link',
      email: 'a@example.test',
      browserBinding: generateBrowserBinding(),
    });
    expect((await consumeToken(database.db, { purpose: 'magic_link', token, allowOtherBrowser: true })).ok).to.equal(true);
    expect(await consumeToken(database.db, { purpose: 'magic_link', token, allowOtherBrowser: true })).to.deep.equal({
      ok: false,
      reason: 'used',
    });
    const events = await auditRows(database.db, 'one_time_token.consumed');
    expect(events.some((e) => e.outcome === 'success' && e.details.other_browser === true)).to.equal(true);
  });

  it('peek does not consume', async () => {
    const { token } = await issueToken(database.db, { purpose: 'password_reset', email: 'a@example.test' });
    for (let i = 0; i < 3; i++) expect((await peekToken(database.db, { purpose: 'password_reset', token })).ok).to.equal(true);
    expect((await consumeToken(database.db, { purpose: 'password_reset', token })).ok).to.equal(true);
    expect(await peekToken(database.db, { purpose: 'password_reset', token })).to.deep.equal({ ok: false, reason: 'used' });
  });

  it('20 parallel redemptions of one token: exactly one succeeds, the rest see used', async () => {
    const binding = generateBrowserBinding();
    const { token } = await issueToken(database.db, { purpose: 'magic_link', email: 'p@example.test', browserBinding: binding });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => consumeToken(database.db, { purpose: 'magic_link', token, browserBinding: binding })),
    );
    expect(results.filter((r) => r.ok)).to.have.length(1);
    expect(results.filter((r) => !r.ok && r.reason === 'used')).to.have.length(19);
  });

  it('neither the raw token nor the browser binding is stored anywhere (rows or audit)', async () => {
    const userId = await insertUser(database.db);
    const binding = generateBrowserBinding();
    const { token } = await issueToken(database.db, { purpose: 'magic_link', userId, email: 'a@example.test', browserBinding: binding });
    await consumeToken(database.db, { purpose: 'magic_link', token });
    await consumeToken(database.db, { purpose: 'magic_link', token, browserBinding: binding });
    const dump = await dumpDatabaseText(database.db);
    for (const s of [...spellings(token), ...spellings(Buffer.from(token, 'base64url')), binding]) expect(dump).not.to.include(s);
    const row = await database
      .db('one_time_tokens')
      .where({ token_hash: hashOneTimeToken(token) })
      .first();
    expect(row.token_hash).to.have.length(32);
    expect(row.browser_binding_hash).to.have.length(32);
  });

  it('invalidates a user’s outstanding tokens of the given purposes only', async () => {
    const userId = await insertUser(database.db);
    const r1 = await issueToken(database.db, { purpose: 'password_reset', userId, email: 'a@example.test' });
    const r2 = await issueToken(database.db, { purpose: 'password_reset', userId, email: 'a@example.test' });
    const m = await issueToken(database.db, { purpose: 'magic_link', userId, email: 'a@example.test' });
    const otherUser = await insertUser(database.db);
    const o = await issueToken(database.db, { purpose: 'password_reset', userId: otherUser, email: 'b@example.test' });
    expect(await invalidateTokens(database.db, { userId, purposes: ['password_reset'] })).to.equal(2);
    for (const { token } of [r1, r2]) {
      expect(await consumeToken(database.db, { purpose: 'password_reset', token })).to.deep.equal({ ok: false, reason: 'used' });
    }
    expect((await consumeToken(database.db, { purpose: 'magic_link', token: m.token })).ok).to.equal(true);
    expect((await consumeToken(database.db, { purpose: 'password_reset', token: o.token })).ok).to.equal(true);
    expect(await invalidateTokens(database.db, { userId })).to.equal(0);
    // By address (no user yet, e.g. sign-up verification), case-insensitively.
    const v = await issueToken(database.db, { purpose: 'email_verification', email: 'New@Example.test' });
    expect(await invalidateTokens(database.db, { email: 'new@example.TEST', purposes: ['email_verification'] })).to.equal(1);
    expect((await consumeToken(database.db, { purpose: 'email_verification', token: v.token })).ok).to.equal(false);
    expect(await errorOf(() => invalidateTokens(database.db, {}))).to.be.instanceOf(TypeError);
  });

  it('supersede: issuing a new token invalidates the outstanding one of the same purpose', async () => {
    const userId = await insertUser(database.db);
    const first = await issueToken(database.db, { purpose: 'password_reset', userId, email: 'a@example.test' });
    const second = await issueToken(database.db, { purpose: 'password_reset', userId, email: 'a@example.test', supersede: true });
    expect(await consumeToken(database.db, { purpose: 'password_reset', token: first.token })).to.deep.equal({ ok: false, reason: 'used' });
    expect((await consumeToken(database.db, { purpose: 'password_reset', token: second.token })).ok).to.equal(true);
  });

  it('counts recent issuance per address and purpose for resend limits', async () => {
    const email = `resend-${Date.now()}@example.test`;
    for (let i = 0; i < 3; i++) await issueToken(database.db, { purpose: 'magic_link', email: i === 0 ? email.toUpperCase() : email });
    await issueToken(database.db, { purpose: 'password_reset', email });
    expect(await countRecentTokens(database.db, { email, purpose: 'magic_link', withinMinutes: 15 })).to.equal(3);
    expect(await countRecentTokens(database.db, { email, purpose: 'password_reset', withinMinutes: 15 })).to.equal(1);
    expect(await countRecentTokens(database.db, { email: 'other@example.test', purpose: 'magic_link', withinMinutes: 15 })).to.equal(0);
    await database
      .db('one_time_tokens')
      .whereRaw('lower(email) = lower(?)', [email])
      .update({
        created_at: database.db.raw(`created_at - interval '1 hour'`),
        expires_at: database.db.raw(`expires_at - interval '1 hour'`),
      });
    expect(await countRecentTokens(database.db, { email, purpose: 'magic_link', withinMinutes: 15 })).to.equal(0);
  });

  it('enforces lifetimes (magic link ≤ 10 min) and validates input', async () => {
    expect(
      await errorOf(() => issueToken(database.db, { purpose: 'magic_link', email: 'a@example.test', ttlSeconds: 601 })),
    ).to.be.instanceOf(RangeError);
    expect(
      await errorOf(() => issueToken(database.db, { purpose: 'password_reset', email: 'a@example.test', ttlSeconds: 0 })),
    ).to.be.instanceOf(RangeError);
    expect(await errorOf(() => issueToken(database.db, { purpose: 'password_reset', email: 'not-an-address' }))).to.be.instanceOf(
      TypeError,
    );
    expect(
      await errorOf(() => issueToken(database.db, { purpose: 'magic_link', email: 'a@example.test', browserBinding: 'short' })),
    ).to.be.instanceOf(TypeError);
    const m = await issueToken(database.db, { purpose: 'magic_link', email: 'a@example.test' });
    expect(m.expiresAt.getTime() - Date.now()).to.be.within(590_000, 605_000);
    expect(ONE_TIME_TOKEN_PURPOSES).to.have.members(['magic_link', 'password_reset', 'email_verification', 'email_change']);
    for (const purpose of ONE_TIME_TOKEN_PURPOSES) {
      const { token } = await issueToken(database.db, { purpose, email: 'a@example.test' });
      expect((await consumeToken(database.db, { purpose, token })).ok, purpose).to.equal(true);
    }
  });

  it('audits issue and every redemption attempt without the token', async () => {
    const userId = await insertUser(database.db);
    const { token, id } = await issueToken(
      database.db,
      { purpose: 'email_change', userId, email: 'new@example.test' },
      { ip: '192.0.2.7' },
    );
    await consumeToken(database.db, { purpose: 'email_change', token }, { ip: '192.0.2.8' });
    await consumeToken(database.db, { purpose: 'email_change', token });
    const issued = (await auditRows(database.db, 'one_time_token.issued')).filter((e) => e.target_id === userId);
    expect(issued).to.have.length(1);
    expect(issued[0]?.details).to.include({ purpose: 'email_change', token_id: id });
    const consumed = (await auditRows(database.db, 'one_time_token.consumed')).filter((e) => e.target_id === userId);
    expect(consumed.map((e) => [e.outcome, e.details.reason ?? null])).to.deep.equal([
      ['success', null],
      ['failure', 'used'],
    ]);
    expect(JSON.stringify(await database.db('audit_events').pluck('details'))).not.to.include(token);
    const row = await database.db('one_time_tokens').where({ id }).first('created_ip');
    expect(row.created_ip).to.equal('192.0.2.7');
  });

  it('purges tokens long expired', async () => {
    const { id } = await issueToken(database.db, { purpose: 'magic_link', email: 'old@example.test' });
    await database
      .db('one_time_tokens')
      .where({ id })
      .update({
        created_at: database.db.raw(`now() - interval '3 days'`),
        expires_at: database.db.raw(`now() - interval '2 days'`),
      });
    expect(await purgeExpiredTokens(database.db, 86_400)).to.be.at.least(1);
    expect(await database.db('one_time_tokens').where({ id }).first()).to.equal(undefined);
  });
});
