import { expect } from 'chai';
import {
  argon2ParamsFromConfig,
  createPasswordHasher,
  DEFAULT_ARGON2_PARAMS,
  hashNeedsRehash,
  hashPassword,
  parseArgon2Hash,
  verifyPassword,
} from '../../src/identity/index.ts';

const PW = 'glimmer quokka vat 42';

describe('password hashing (argon2id)', function () {
  this.timeout(30_000);

  it('hashes with the OWASP argon2id parameters by default and records them', async () => {
    expect(DEFAULT_ARGON2_PARAMS).to.deep.equal({ m: 19_456, t: 2, p: 1 });
    const { hash, params } = await hashPassword(PW);
    expect(hash).to.match(/^\$argon2id\$v=19\$/);
    expect(params).to.deep.equal({ m: 19_456, t: 2, p: 1 });
    expect(parseArgon2Hash(hash)).to.deep.equal({ algorithm: 'argon2id', version: 19, params: { m: 19_456, t: 2, p: 1 } });
    // Salted: the same password never hashes the same twice.
    expect((await hashPassword(PW)).hash).not.to.equal(hash);
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const { hash } = await hashPassword(PW);
    expect(await verifyPassword(hash, PW)).to.deep.equal({ ok: true, needsRehash: false });
    expect(await verifyPassword(hash, `${PW}!`)).to.deep.equal({ ok: false, needsRehash: false });
    expect(await verifyPassword(hash, PW.slice(0, -1))).to.deep.equal({ ok: false, needsRehash: false });
  });

  it('asks for a rehash when the configured parameters differ from the stored ones', async () => {
    const old = { m: 12_288, t: 3, p: 1 };
    const { hash } = await hashPassword(PW, old);
    expect(parseArgon2Hash(hash)?.params).to.deep.equal(old);
    expect(await verifyPassword(hash, PW, old)).to.deep.equal({ ok: true, needsRehash: false });
    expect(await verifyPassword(hash, PW, DEFAULT_ARGON2_PARAMS)).to.deep.equal({ ok: true, needsRehash: true });
    // A wrong password never asks for anything.
    expect(await verifyPassword(hash, 'wrong password here', DEFAULT_ARGON2_PARAMS)).to.deep.equal({ ok: false, needsRehash: false });
    expect(hashNeedsRehash(hash, { ...old, p: 2 })).to.equal(true);
    expect(hashNeedsRehash('$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA', DEFAULT_ARGON2_PARAMS)).to.equal(true);
  });

  it('verifies what NFKC makes equal (full-width and composed forms)', async () => {
    const { hash } = await hashPassword('ｇｌｉｍｍｅｒ quokka café');
    expect((await verifyPassword(hash, 'glimmer quokka café')).ok).to.equal(true);
    expect((await verifyPassword(hash, 'glimmer quokka cafe\u0301')).ok).to.equal(true);
    expect((await verifyPassword(hash, 'glimmer quokka cafe')).ok).to.equal(false);
  });

  it('treats a malformed stored hash as a failed verification, never an exception', async () => {
    for (const stored of ['', 'plain', '$argon2id$garbage', '$argon2id$v=19$m=x,t=2,p=1$a$b']) {
      expect(await verifyPassword(stored, PW)).to.deep.equal({ ok: false, needsRehash: false });
      expect(hashNeedsRehash(stored, DEFAULT_ARGON2_PARAMS)).to.equal(true);
    }
    expect(parseArgon2Hash('$argon2id$v=19$m=x,t=2,p=1$a$b')).to.equal(undefined);
  });

  it('a hasher verifies with its parameters and spends a real verification on the dummy hash', async () => {
    const params = argon2ParamsFromConfig({ argon2_memory_kib: 9_216, argon2_iterations: 4, argon2_parallelism: 1 });
    const hasher = await createPasswordHasher(params);
    expect(hasher.params).to.deep.equal({ m: 9_216, t: 4, p: 1 });
    const { hash, params: used } = await hasher.hash(PW);
    expect(used).to.deep.equal(params);
    expect(await hasher.verify(hash, PW)).to.deep.equal({ ok: true, needsRehash: false });
    expect(await hasher.verifyDummy(PW)).to.deep.equal({ ok: false, needsRehash: false });

    // The dummy costs what a real verification with the same parameters costs.
    const median = async (fn: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 9; i++) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[4] as number;
    };
    const real = await median(() => hasher.verify(hash, 'not the password at all'));
    const dummy = await median(() => hasher.verifyDummy('not the password at all'));
    expect(dummy / real, `dummy ${dummy.toFixed(1)} ms vs real ${real.toFixed(1)} ms`).to.be.within(0.6, 1.6);
  });
});
