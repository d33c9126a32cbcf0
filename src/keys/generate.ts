import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { ALG_BY_PURPOSE, type KeyPurpose } from './lifecycle.ts';

export interface GeneratedKey {
  /** RFC 7638 thumbprint: stable, collision-free and recomputable by anyone holding the JWK. */
  kid: string;
  alg: string;
  publicJwk: JWK;
  privateKey: KeyObject;
}

/** Members a public JWK may carry; everything else (d, p, q, dp, dq, qi, k, …) is dropped. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

export function publicMembers(jwk: JWK): JWK {
  const out: JWK = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) out[m] = jwk[m];
  return out;
}

export async function generateSigningKey(purpose: KeyPurpose): Promise<GeneratedKey> {
  const alg = ALG_BY_PURPOSE[purpose];
  const { publicKey, privateKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const bare = publicMembers(publicKey.export({ format: 'jwk' }) as JWK);
  const kid = await calculateJwkThumbprint(bare, 'sha256');
  return { kid, alg, publicJwk: { ...bare, kid, alg, use: 'sig' }, privateKey };
}
