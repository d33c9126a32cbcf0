import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { deriveKekSecret, EnvelopeError, envelopeKekId, openEnvelope, rewrapEnvelope, sealEnvelope } from '../../src/crypto/index.ts';
import { kekId } from '../../src/keys/index.ts';
import { newKek } from './support.ts';

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof EnvelopeError) return err.reason;
    throw err;
  }
  return undefined;
}

describe('crypto: generic KEK envelope', () => {
  const kek = newKek();
  const secret = randomBytes(20);

  it('round-trips arbitrary bytes and never holds them in clear', () => {
    const env = sealEnvelope(kek, secret, 'totp:u1:c1');
    expect(openEnvelope(kek, env, 'totp:u1:c1').equals(secret)).to.equal(true);
    const json = JSON.stringify(env);
    for (const s of [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url')]) expect(json).not.to.include(s);
    // Fresh DEK and IVs every time.
    expect(sealEnvelope(kek, secret, 'totp:u1:c1').ciphertext).not.to.equal(env.ciphertext);
  });

  it('uses the same KEK fingerprint as the signing-key envelope', () => {
    expect(envelopeKekId(kek)).to.equal(kekId(kek));
    expect(sealEnvelope(kek, secret, 'a').kek_id).to.equal(kekId(kek));
  });

  it('a wrong KEK, another AAD or any tampering fails to open', () => {
    const env = sealEnvelope(kek, secret, 'totp:u1:c1');
    expect(reasonOf(() => openEnvelope(newKek(), env, 'totp:u1:c1'))).to.equal('kek_mismatch');
    const other = newKek();
    // Even with a forged fingerprint the wrong KEK cannot unwrap.
    expect(reasonOf(() => openEnvelope(other, { ...env, kek_id: envelopeKekId(other) }, 'totp:u1:c1'))).to.equal('envelope_invalid');
    expect(reasonOf(() => openEnvelope(kek, env, 'totp:u2:c1'))).to.equal('envelope_invalid');
    const flip = (s: string) => `${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    for (const field of ['ciphertext', 'tag', 'iv', 'wrapped_dek', 'dek_tag', 'dek_iv'] as const) {
      expect(
        reasonOf(() => openEnvelope(kek, { ...env, [field]: flip(env[field]) }, 'totp:u1:c1')),
        field,
      ).to.equal('envelope_invalid');
    }
    expect(reasonOf(() => openEnvelope(kek, { ...env, v: 2 as 1 }, 'totp:u1:c1'))).to.equal('envelope_invalid');
  });

  it('rewraps under a new KEK without touching the ciphertext', () => {
    const env = sealEnvelope(kek, secret, 'x');
    const next = newKek();
    const moved = rewrapEnvelope(kek, next, env, 'x');
    expect(moved.ciphertext).to.equal(env.ciphertext);
    expect(moved.kek_id).to.equal(envelopeKekId(next));
    expect(openEnvelope(next, moved, 'x').equals(secret)).to.equal(true);
    expect(reasonOf(() => openEnvelope(kek, moved, 'x'))).to.equal('kek_mismatch');
  });

  it('derives independent 32-byte secrets per label', () => {
    const a = deriveKekSecret(kek, 'iam/recovery-codes/v1');
    expect(a).to.have.length(32);
    expect(a.equals(deriveKekSecret(kek, 'iam/recovery-codes/v1'))).to.equal(true);
    expect(a.equals(deriveKekSecret(kek, 'iam/other/v1'))).to.equal(false);
    expect(a.equals(deriveKekSecret(newKek(), 'iam/recovery-codes/v1'))).to.equal(false);
    expect(() => deriveKekSecret(kek, 'nolabel')).to.throw(TypeError);
    expect(() => sealEnvelope(Buffer.alloc(16), secret, 'x')).to.throw(TypeError);
    expect(() => sealEnvelope(kek, secret, '')).to.throw(TypeError);
  });
});
