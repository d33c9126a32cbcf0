import { randomBytes } from 'node:crypto';
import type { KeyValueStore } from '../store/types.ts';

/**
 * Single-use WebAuthn challenges in the short-lived store (ADR-0014). A challenge is 32 CSPRNG
 * bytes (256 bits; ASVS asks for at least 64), lives five minutes and is read with `getDel`, so a
 * finish call consumes it whatever the outcome and a second finish with the same challenge finds
 * nothing. Registration challenges are keyed by the user (a new start replaces the pending one);
 * authentication challenges by a random handle that the caller keeps in its interaction.
 */
export const CHALLENGE_TTL_MS = 5 * 60_000;
export const CHALLENGE_BYTES = 32;

const HANDLE = /^[A-Za-z0-9_-]{43}$/;

export interface RegistrationChallenge {
  challenge: string;
  userId: string;
  /** base64url of the user's WebAuthn user handle the options carried. */
  userHandle: string;
  requireUserVerification: boolean;
}

export interface AuthenticationChallenge {
  challenge: string;
  /** Set when the ceremony is for a known user (second factor, re-authentication). */
  userId?: string;
  requireUserVerification: boolean;
}

const registrationKey = (userId: string) => `webauthn:challenge:registration:${userId.toLowerCase()}`;
const authenticationKey = (handle: string) => `webauthn:challenge:authentication:${handle}`;

export const newChallenge = (): Uint8Array<ArrayBuffer> => new Uint8Array(randomBytes(CHALLENGE_BYTES));

export async function saveRegistrationChallenge(store: KeyValueStore, rec: RegistrationChallenge): Promise<void> {
  await store.set(registrationKey(rec.userId), JSON.stringify(rec), CHALLENGE_TTL_MS);
}

export async function takeRegistrationChallenge(store: KeyValueStore, userId: string): Promise<RegistrationChallenge | null> {
  const raw = await store.getDel(registrationKey(userId));
  return raw ? (JSON.parse(raw) as RegistrationChallenge) : null;
}

/** Stores an authentication challenge under a fresh random handle and returns the handle. */
export async function saveAuthenticationChallenge(store: KeyValueStore, rec: AuthenticationChallenge): Promise<string> {
  const handle = randomBytes(32).toString('base64url');
  await store.set(authenticationKey(handle), JSON.stringify(rec), CHALLENGE_TTL_MS);
  return handle;
}

export async function takeAuthenticationChallenge(store: KeyValueStore, handle: unknown): Promise<AuthenticationChallenge | null> {
  if (typeof handle !== 'string' || !HANDLE.test(handle)) return null;
  const raw = await store.getDel(authenticationKey(handle));
  return raw ? (JSON.parse(raw) as AuthenticationChallenge) : null;
}
