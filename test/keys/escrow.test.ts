import { expect } from 'chai';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { type EscrowBundle, exportEscrow, importEscrow, KeyError, signJwt } from '../../src/keys/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { keyRows, keyService, manualClock, newKek } from './support.ts';

const PASSPHRASE = 'correct horse battery staple';
const sortJwks = (j: { keys: JWK[] }) => [...j.keys].sort((x, y) => String(x.kid).localeCompare(String(y.kid)));

async function reason(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(KeyError);
  return (err as KeyError).reason;
}

describe('keys: escrow export/import', function () {
  this.timeout(120_000);
  let source: TestDatabase;
  let target: TestDatabase;
  const sourceKek = newKek();
  const targetKek = newKek();
  let bundle: EscrowBundle;
  let sourceJwks: { keys: JWK[] };
  let signedBySource: string;

  before(async () => {
    [source, target] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const clock = manualClock();
    const svc = keyService(source.db, sourceKek, { now: clock.now });
    await svc.start();
    // One key in each publishable state, plus a revoked one.
    await svc.rotate('access');
    clock.advance(60);
    await svc.runMaintenance();
    await svc.rotate('access');
    await svc.rotate('refresh');
    await svc.revoke(svc.activeSigner('refresh').kid, 'test');
    await svc.refresh();
    sourceJwks = svc.jwks();
    signedBySource = await signJwt(svc.activeSigner('access'), {}, { sub: 'x', exp: Math.floor(Date.now() / 1000) + 600 });
    bundle = await exportEscrow(source.db, sourceKek, PASSPHRASE);
  });
  after(() => Promise.all([source.drop(), target.drop()]));

  it('writes a self-describing bundle without any plaintext key material', () => {
    expect(bundle).to.include({ format: 'iam-key-escrow', v: 1 });
    expect(bundle.kdf).to.include({ name: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    const text = JSON.stringify(bundle);
    for (const k of sourceJwks.keys) expect(text).not.to.contain(String(k.x));
  });

  it('refuses a short passphrase', async () => {
    expect(await reason(exportEscrow(source.db, sourceKek, 'too short'))).to.equal('passphrase_too_short');
  });

  it('imports nothing with a wrong passphrase or a modified bundle', async () => {
    expect(await reason(importEscrow(target.db, targetKek, bundle, 'wrong passphrase!!'))).to.equal('escrow_passphrase');
    expect(await reason(importEscrow(target.db, targetKek, { ...bundle, created_at: new Date(0).toISOString() }, PASSPHRASE))).to.equal(
      'escrow_passphrase',
    );
    expect(await reason(importEscrow(target.db, targetKek, { ...bundle, kdf: { ...bundle.kdf, N: 2 ** 30 } }, PASSPHRASE))).to.equal(
      'escrow_invalid',
    );
    expect(await reason(importEscrow(target.db, targetKek, { hello: 'world' }, PASSPHRASE))).to.equal('escrow_invalid');
    expect(await keyRows(target.db)).to.have.length(0);
  });

  it('restores into an empty database under a different KEK with the same JWKS and signers', async () => {
    const result = await importEscrow(target.db, targetKek, bundle, PASSPHRASE);
    const sourceRows = (await keyRows(source.db)).filter((r) => r.state !== 'removed');
    expect(result).to.include({ imported: sourceRows.length, skipped: 0, demoted: 0 });

    const restored = keyService(target.db, targetKek);
    await restored.start();
    expect(sortJwks(restored.jwks())).to.deep.equal(sortJwks(sourceJwks));
    const targetRows = await keyRows(target.db);
    expect(targetRows.map((r) => [r.kid, r.state])).to.have.deep.members(sourceRows.map((r) => [r.kid, r.state]));
    for (const r of targetRows.filter((x) => x.private_key_envelope)) expect(r.private_key_envelope.kek_id).not.to.equal(undefined);

    // The restored private key signs tokens the original JWKS accepts, and the reverse.
    const jwt = await signJwt(restored.activeSigner('access'), {}, { sub: 'y', exp: Math.floor(Date.now() / 1000) + 600 });
    await jwtVerify(jwt, createLocalJWKSet(sourceJwks));
    await jwtVerify(signedBySource, createLocalJWKSet(restored.jwks()));
    await restored.stop();

    const again = await importEscrow(target.db, targetKek, bundle, PASSPHRASE);
    expect(again).to.include({ imported: 0, skipped: sourceRows.length });
  });

  it('keeps an imported active key published as retired when the target already has an active key', async () => {
    const fresh = await createTestDatabase();
    try {
      const svc = keyService(fresh.db, targetKek);
      await svc.start();
      const result = await importEscrow(fresh.db, targetKek, bundle, PASSPHRASE, { retireGraceS: 600 });
      expect(result.demoted).to.equal(2); // both purposes already had an active key here
      await svc.refresh();
      const published = svc.jwks().keys.map((k) => k.kid);
      for (const k of sourceJwks.keys) expect(published).to.include(k.kid);
      expect((await keyRows(fresh.db)).filter((r) => r.state === 'active')).to.have.length(2);
      await svc.stop();
      // Never mix KEKs in one database: keys sealed under another KEK could not be opened by the service.
      expect(await reason(importEscrow(fresh.db, newKek(), bundle, PASSPHRASE))).to.equal('kek_mismatch');
    } finally {
      await fresh.drop();
    }
  });
});
