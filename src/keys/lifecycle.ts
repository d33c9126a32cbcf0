import type { JWK } from 'jose';
import type { PrivateKeyEnvelope } from './envelope.ts';

/**
 * Pure lifecycle rules of signing keys (ADR-0004). Nothing here touches the database or a
 * clock: callers pass `now` and the current rows and get back the steps to perform, which
 * keeps the schedule testable and lets one transaction apply them under the job lock.
 *
 *   pending ──(activates_at reached)──▶ active ──(successor activated)──▶ retired ──(remove_after)──▶ removed
 *      └───────────────┴──────────────────────┴──── revoke (immediate unpublish) ───▶ revoked
 */
export const KEY_PURPOSES = ['access', 'refresh'] as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[number];

export const KEY_STATES = ['pending', 'active', 'retired', 'removed', 'revoked'] as const;
export type KeyState = (typeof KEY_STATES)[number];

/** ES256 for access tokens and ID tokens (widest RP support); Ed25519 for IAM-only refresh tokens. */
export const ALG_BY_PURPOSE = { access: 'ES256', refresh: 'EdDSA' } as const satisfies Record<KeyPurpose, string>;

export interface SigningKey {
  id: string;
  kid: string;
  purpose: KeyPurpose;
  alg: string;
  state: KeyState;
  publicJwk: JWK;
  /** Null for keys held by an external signer, and once removed or revoked. */
  envelope: PrivateKeyEnvelope | null;
  /** `local`, or the name of an external signer (KMS/HSM) that holds the private key. */
  signer: string;
  createdAt: Date;
  activatesAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
  removeAfter: Date | null;
  removedAt: Date | null;
  revokedAt: Date | null;
  revokeReason: string | null;
}

/** One state change, for audit/outbox events. `from` is null when the key was created. */
export interface KeyChange {
  kid: string;
  purpose: KeyPurpose;
  from: KeyState | null;
  to: KeyState;
}

export interface KeyTimings {
  publishLeadS: number;
  retireGraceS: number;
  /** 0 disables scheduled rotation. */
  rotationIntervalS: number;
}

export type KeyStep =
  | { kind: 'create'; purpose: KeyPurpose; state: 'pending' | 'active' }
  | { kind: 'activate'; kid: string; purpose: KeyPurpose }
  | { kind: 'retire'; kid: string; purpose: KeyPurpose }
  | { kind: 'remove'; kid: string; purpose: KeyPurpose }
  | { kind: 'revoke'; kid: string; purpose: KeyPurpose; from: KeyState; reason: string };

export const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);

/** In JWKS: everything that may sign now or soon, or may have signed a still-valid token. */
export function isPublishable(k: SigningKey, now: Date): boolean {
  if (k.state === 'pending' || k.state === 'active') return true;
  return k.state === 'retired' && k.removeAfter !== null && k.removeAfter > now;
}

const ofPurpose = (keys: SigningKey[], purpose: KeyPurpose, state: KeyState) =>
  keys.filter((k) => k.purpose === purpose && k.state === state);

/** A replacement for the active key right now: the already-published pending key if any, else a new one. */
function takeOver(keys: SigningKey[], purpose: KeyPurpose): KeyStep {
  const pending = ofPurpose(keys, purpose, 'pending')[0];
  return pending ? { kind: 'activate', kid: pending.kid, purpose } : { kind: 'create', purpose, state: 'active' };
}

/**
 * The scheduled job: promote due pending keys (retiring their predecessor), bootstrap a
 * purpose without an active key, remove retired keys past their grace, and start a rotation
 * when the active key is older than the rotation interval. Steps are ordered so the
 * one-active-per-purpose index holds after each of them.
 */
export function planMaintenance(keys: SigningKey[], now: Date, t: KeyTimings): KeyStep[] {
  const steps: KeyStep[] = [];
  for (const purpose of KEY_PURPOSES) {
    const active = ofPurpose(keys, purpose, 'active')[0];
    const pending = ofPurpose(keys, purpose, 'pending')[0];
    if (pending && pending.activatesAt <= now) {
      if (active) steps.push({ kind: 'retire', kid: active.kid, purpose });
      steps.push({ kind: 'activate', kid: pending.kid, purpose });
    } else if (!active) {
      // No signer at all (first start, or a crash between steps): anything is better than failing to issue.
      steps.push(takeOver(keys, purpose));
    } else if (!pending && t.rotationIntervalS > 0 && addSeconds(active.activatedAt ?? active.createdAt, t.rotationIntervalS) <= now) {
      steps.push({ kind: 'create', purpose, state: 'pending' });
    }
    for (const k of ofPurpose(keys, purpose, 'retired')) {
      if (k.removeAfter && k.removeAfter <= now) steps.push({ kind: 'remove', kid: k.kid, purpose });
    }
  }
  return steps;
}

/**
 * An operator rotation. Normal: publish a pending key that activates after the lead time
 * (idempotent while one is waiting). Immediate: retire the active key now and sign with the
 * waiting key, or a fresh one that verifiers may not have fetched yet.
 */
export function planRotation(keys: SigningKey[], purpose: KeyPurpose, opts: { immediate?: boolean } = {}): KeyStep[] {
  const active = ofPurpose(keys, purpose, 'active')[0];
  if (!opts.immediate) {
    return ofPurpose(keys, purpose, 'pending').length ? [] : [{ kind: 'create', purpose, state: 'pending' }];
  }
  return [...(active ? [{ kind: 'retire', kid: active.kid, purpose } as const] : []), takeOver(keys, purpose)];
}

/** Emergency revoke: unpublished at once; a revoked active key is replaced in the same transaction. */
export function planRevocation(keys: SigningKey[], kid: string, reason: string): KeyStep[] {
  const key = keys.find((k) => k.kid === kid);
  if (!key || key.state === 'revoked') return [];
  const steps: KeyStep[] = [{ kind: 'revoke', kid, purpose: key.purpose, from: key.state, reason }];
  if (key.state === 'active') steps.push(takeOver(keys, key.purpose));
  return steps;
}
