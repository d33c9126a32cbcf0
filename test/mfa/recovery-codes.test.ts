import { expect } from 'chai';
import {
  consumeRecoveryCode,
  countRemainingRecoveryCodes,
  deleteRecoveryCodes,
  generateRecoveryCodes,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
} from '../../src/mfa/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { auditRows, dumpDatabaseText, insertUser, newKek } from './support.ts';

const FORMAT = /^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{2}$/;

describe('mfa: recovery codes', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  const kek = newKek();

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  it('generates ten distinct readable 50-bit codes', async () => {
    const userId = await insertUser(database.db);
    const { codes, batchId } = await generateRecoveryCodes(database.db, kek, userId);
    expect(codes).to.have.length(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).to.equal(RECOVERY_CODE_COUNT);
    for (const c of codes) expect(c).to.match(FORMAT);
    expect(await countRemainingRecoveryCodes(database.db, userId)).to.equal(10);
    expect(await database.db('recovery_codes').where({ user_id: userId }).distinct('batch_id').pluck('batch_id')).to.deep.equal([batchId]);
  });

  it('each code works exactly once; reuse is rejected', async () => {
    const userId = await insertUser(database.db);
    const { codes } = await generateRecoveryCodes(database.db, kek, userId);
    for (const [i, code] of codes.entries()) {
      expect(await consumeRecoveryCode(database.db, kek, userId, code)).to.deep.equal({ ok: true, remaining: 9 - i });
      expect(await consumeRecoveryCode(database.db, kek, userId, code)).to.deep.equal({ ok: false, reason: 'invalid' });
    }
    expect(await countRemainingRecoveryCodes(database.db, userId)).to.equal(0);
    const events = (await auditRows(database.db, 'auth.recovery_code.used')).filter((r) => r.target_id === userId);
    expect(events.map((e) => e.outcome)).to.deep.equal(codes.flatMap(() => ['success', 'failure']));
  });

  it('accepts what people type (case, spaces, no dashes, o/i/l look-alikes) and nothing else', async () => {
    const userId = await insertUser(database.db);
    const { codes } = await generateRecoveryCodes(database.db, kek, userId);
    const [a, b, c] = codes as [string, string, string];
    expect((await consumeRecoveryCode(database.db, kek, userId, ` ${a.toUpperCase()} `)).ok).to.equal(true);
    expect((await consumeRecoveryCode(database.db, kek, userId, b.replace(/-/g, ''))).ok).to.equal(true);
    const lookAlike = c.replace(/0/g, 'O').replace(/1/g, 'l');
    expect((await consumeRecoveryCode(database.db, kek, userId, lookAlike)).ok).to.equal(true);
    expect(normalizeRecoveryCode('abcd-efgh-jk')).to.equal('abcdefghjk');
    expect(normalizeRecoveryCode('abcd-efgh-ju')).to.equal(null);
    expect(normalizeRecoveryCode('abcd-efgh-j')).to.equal(null);
    for (const bad of ['', 'x'.repeat(100), 'abcd-efgh-ju']) {
      expect(await consumeRecoveryCode(database.db, kek, userId, bad)).to.deep.equal({ ok: false, reason: 'invalid' });
    }
  });

  it('a code is bound to its user and to the KEK', async () => {
    const alice = await insertUser(database.db);
    const bob = await insertUser(database.db);
    const { codes } = await generateRecoveryCodes(database.db, kek, alice);
    await generateRecoveryCodes(database.db, kek, bob);
    const code = codes[0] as string;
    expect((await consumeRecoveryCode(database.db, kek, bob, code)).ok).to.equal(false);
    expect((await consumeRecoveryCode(database.db, newKek(), alice, code)).ok).to.equal(false);
    expect((await consumeRecoveryCode(database.db, kek, alice, code)).ok).to.equal(true);
  });

  it('20 parallel uses of one code: exactly one succeeds', async () => {
    const userId = await insertUser(database.db);
    const { codes } = await generateRecoveryCodes(database.db, kek, userId);
    const results = await Promise.all(Array.from({ length: 20 }, () => consumeRecoveryCode(database.db, kek, userId, codes[3] as string)));
    expect(results.filter((r) => r.ok)).to.have.length(1);
    expect(await countRemainingRecoveryCodes(database.db, userId)).to.equal(9);
  });

  it('regeneration replaces the whole batch atomically; concurrent regenerations leave one batch', async () => {
    const userId = await insertUser(database.db);
    const first = await generateRecoveryCodes(database.db, kek, userId);
    await consumeRecoveryCode(database.db, kek, userId, first.codes[0] as string);
    const second = await generateRecoveryCodes(database.db, kek, userId);
    for (const code of first.codes) expect((await consumeRecoveryCode(database.db, kek, userId, code)).ok).to.equal(false);
    expect(await countRemainingRecoveryCodes(database.db, userId)).to.equal(10);
    expect((await consumeRecoveryCode(database.db, kek, userId, second.codes[9] as string)).ok).to.equal(true);

    const batches = await Promise.all(Array.from({ length: 5 }, () => generateRecoveryCodes(database.db, kek, userId)));
    const rows = await database.db('recovery_codes').where({ user_id: userId }).select('batch_id');
    expect(rows).to.have.length(10);
    const survivor = rows[0]?.batch_id;
    expect(rows.every((r) => r.batch_id === survivor)).to.equal(true);
    const winner = batches.find((b) => b.batchId === survivor);
    expect((await consumeRecoveryCode(database.db, kek, userId, winner?.codes[0] as string)).ok).to.equal(true);
    const generated = (await auditRows(database.db, 'mfa.recovery_codes.generated')).filter((r) => r.target_id === userId);
    expect(generated).to.have.length(7);
  });

  it('no code appears in clear anywhere in the database (rows or audit)', async () => {
    const userId = await insertUser(database.db);
    const { codes } = await generateRecoveryCodes(database.db, kek, userId);
    await consumeRecoveryCode(database.db, kek, userId, codes[0] as string);
    await consumeRecoveryCode(database.db, kek, userId, codes[0] as string);
    const dump = (await dumpDatabaseText(database.db)).toLowerCase();
    for (const code of codes) {
      expect(dump).not.to.include(code);
      expect(dump).not.to.include(code.replace(/-/g, ''));
    }
    const stored = await database.db('recovery_codes').where({ user_id: userId }).pluck('code_hash');
    for (const h of stored) expect(h).to.match(/^h1\$[0-9a-f]{16}\$[A-Za-z0-9_-]{43}$/);
  });

  it('deleting removes every code; unknown or disabled users get nothing', async () => {
    const userId = await insertUser(database.db);
    const { codes } = await generateRecoveryCodes(database.db, kek, userId);
    expect(await deleteRecoveryCodes(database.db, userId)).to.equal(10);
    expect((await consumeRecoveryCode(database.db, kek, userId, codes[1] as string)).ok).to.equal(false);
    expect(await countRemainingRecoveryCodes(database.db, 'nope')).to.equal(0);
    const disabled = await insertUser(database.db, { status: 'disabled', disabled_at: new Date() });
    let err: unknown;
    try {
      await generateRecoveryCodes(database.db, kek, disabled);
    } catch (x) {
      err = x;
    }
    expect((err as { code?: string }).code).to.equal('not_found');
  });
});
