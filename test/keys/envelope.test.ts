import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import { KeyError, kekId, openPrivateKey, type PrivateKeyEnvelope, sealPrivateKey } from '../../src/keys/index.ts';
import { newKek } from './support.ts';

const pkcs8 = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });

function flipFirstByte(b64u: string): string {
  const b = Buffer.from(b64u, 'base64url');
  b[0] = (b[0] ?? 0) ^ 0xff;
  return b.toString('base64url');
}

function expectKeyError(fn: () => unknown, reason: string, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).to.be.instanceOf(KeyError);
  expect((caught as KeyError).reason).to.equal(reason);
  expect((caught as KeyError).message).to.match(message);
}

describe('keys: private key envelope', () => {
  const kek = newKek();
  const der = pkcs8();
  const env = sealPrivateKey(kek, 'kid-1', der);

  it('round-trips the PKCS#8 key and stores only base64url fields', () => {
    expect(openPrivateKey(kek, 'kid-1', env).equals(der)).to.equal(true);
    expect(env).to.include({ v: 1, kek_id: kekId(kek) });
    for (const f of ['wrapped_dek', 'dek_iv', 'dek_tag', 'iv', 'tag', 'ciphertext'] as const) {
      expect(env[f]).to.match(/^[A-Za-z0-9_-]+$/);
    }
    expect(JSON.stringify(env)).not.to.contain(der.toString('base64url'));
  });

  it('uses a fresh DEK and IV per seal', () => {
    const again = sealPrivateKey(kek, 'kid-1', der);
    expect(again.wrapped_dek).not.to.equal(env.wrapped_dek);
    expect(again.iv).not.to.equal(env.iv);
  });

  it('names both KEK fingerprints when opened with the wrong KEK', () => {
    const other = newKek();
    expectKeyError(() => openPrivateKey(other, 'kid-1', env), 'kek_mismatch', new RegExp(`${env.kek_id}.*${kekId(other)}`));
  });

  it('fails authentication when the ciphertext, tag or wrapped DEK is tampered with', () => {
    for (const field of ['ciphertext', 'tag', 'wrapped_dek', 'dek_tag'] as const) {
      const tampered: PrivateKeyEnvelope = { ...env, [field]: flipFirstByte(env[field]) };
      expectKeyError(() => openPrivateKey(kek, 'kid-1', tampered), 'envelope_invalid', /tampered or corrupt/);
    }
  });

  it('binds the envelope to its kid', () => {
    expectKeyError(() => openPrivateKey(kek, 'kid-2', env), 'envelope_invalid', /kid-2/);
  });

  it('rejects a forged KEK fingerprint through the wrapped DEK', () => {
    const other = newKek();
    expectKeyError(() => openPrivateKey(other, 'kid-1', { ...env, kek_id: kekId(other) }), 'envelope_invalid', /wrapped key/);
  });
});
