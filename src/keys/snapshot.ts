import type { JWK } from 'jose';
import { isPublishable, KEY_PURPOSES, type KeyPurpose, type SigningKey } from './lifecycle.ts';
import { toPublicJwk } from './views.ts';

/** An instance's in-memory view of the key set at one moment; rebuilt on refresh. */
export interface KeySnapshot {
  keys: SigningKey[];
  published: SigningKey[];
  active: Partial<Record<KeyPurpose, SigningKey>>;
  jwks: { keys: JWK[] };
  /** Epoch ms at which a retired key's grace ends and the published set shrinks. */
  validUntil: number;
  /** Changes exactly when the published kids or an active kid change. */
  fingerprint: string;
}

export function buildSnapshot(keys: SigningKey[], now: Date): KeySnapshot {
  const published = keys.filter((k) => isPublishable(k, now));
  const active: Partial<Record<KeyPurpose, SigningKey>> = {};
  for (const k of keys) if (k.state === 'active') active[k.purpose] = k;
  const expiries = published.flatMap((k) => (k.state === 'retired' && k.removeAfter ? [k.removeAfter.getTime()] : []));
  const fingerprint = JSON.stringify([KEY_PURPOSES.map((p) => active[p]?.kid ?? null), published.map((k) => k.kid).sort()]);
  return {
    keys,
    published,
    active,
    jwks: { keys: published.map(toPublicJwk) },
    validUntil: Math.min(Number.POSITIVE_INFINITY, ...expiries),
    fingerprint,
  };
}

export const emptySnapshot = (): KeySnapshot => buildSnapshot([], new Date(0));
