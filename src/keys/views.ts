import type { JWK } from 'jose';
import { publicMembers } from './generate.ts';
import { isPublishable, type KeyPurpose, type KeyState, type SigningKey } from './lifecycle.ts';

/** A JWKS entry: the public members only, with kid/alg/use taken from the row, never from stored JSON. */
export function toPublicJwk(k: SigningKey): JWK {
  return { ...publicMembers(k.publicJwk), kid: k.kid, alg: k.alg, use: 'sig' };
}

export interface VerificationKey {
  kid: string;
  purpose: KeyPurpose;
  alg: string;
  state: KeyState;
  publicJwk: JWK;
}

export const toVerificationKey = (k: SigningKey): VerificationKey => ({
  kid: k.kid,
  purpose: k.purpose,
  alg: k.alg,
  state: k.state,
  publicJwk: toPublicJwk(k),
});

/** Operator view of a key (CLI, admin API): metadata only, JSON-ready. */
export interface KeySummary {
  kid: string;
  purpose: KeyPurpose;
  alg: string;
  state: KeyState;
  published: boolean;
  signer: string;
  private_key: 'encrypted' | 'external' | 'none';
  created_at: string;
  activates_at: string;
  activated_at: string | null;
  retired_at: string | null;
  remove_after: string | null;
  removed_at: string | null;
  revoked_at: string | null;
  revoke_reason: string | null;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

export function toSummary(k: SigningKey, now: Date): KeySummary {
  return {
    kid: k.kid,
    purpose: k.purpose,
    alg: k.alg,
    state: k.state,
    published: isPublishable(k, now),
    signer: k.signer,
    private_key: k.envelope ? 'encrypted' : k.signer !== 'local' && k.state !== 'removed' && k.state !== 'revoked' ? 'external' : 'none',
    created_at: k.createdAt.toISOString(),
    activates_at: k.activatesAt.toISOString(),
    activated_at: iso(k.activatedAt),
    retired_at: iso(k.retiredAt),
    remove_after: iso(k.removeAfter),
    removed_at: iso(k.removedAt),
    revoked_at: iso(k.revokedAt),
    revoke_reason: k.revokeReason,
  };
}
