import type { KeyValueStore } from '../src/store/types.ts';

/**
 * What one sign-in interaction has established so far, kept in the shared store under the
 * interaction's uid and for the interaction's remaining lifetime. Nothing secret: the email as
 * typed, and — only after a factor was verified — the user id and the methods (`amr`) done.
 * The engine learns the result only when the login is complete (`interactionResult`), so a
 * half-finished sign-in can never resume the authorization request.
 */
export interface SignInState {
  /** The identifier typed on the first page. */
  email?: string;
  /** Set once a first factor was verified (or, for step-up, from the session). */
  userId?: string;
  /** Methods verified in this interaction (RFC 8176), or the session's for step-up. */
  amr: string[];
  /** Second factors the user has (looked up once the first factor succeeded). */
  factors?: string[];
  /** Step-up of the session's account: only the missing factor is asked for. */
  stepUp?: boolean;
  /** The person chose "use a different account": full sign-in even where step-up would do. */
  fullLogin?: boolean;
  /** The pending passkey ceremony's challenge handle (ADR-0014: kept server-side, single use). */
  passkeyChallenge?: string;
}

const key = (uid: string) => `signin:${uid}`;
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function emptyState(): SignInState {
  return { amr: [] };
}

/** The stored state, or undefined when there is none (a fresh interaction). Store errors propagate. */
export async function loadState(store: KeyValueStore, uid: string): Promise<SignInState | undefined> {
  const raw = await store.get(key(uid));
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    return {
      ...(typeof v.email === 'string' ? { email: v.email } : {}),
      ...(typeof v.userId === 'string' ? { userId: v.userId } : {}),
      amr: strings(v.amr),
      ...(Array.isArray(v.factors) ? { factors: strings(v.factors) } : {}),
      ...(v.stepUp === true ? { stepUp: true } : {}),
      ...(v.fullLogin === true ? { fullLogin: true } : {}),
      ...(typeof v.passkeyChallenge === 'string' ? { passkeyChallenge: v.passkeyChallenge } : {}),
    };
  } catch {
    return undefined;
  }
}

export async function saveState(store: KeyValueStore, uid: string, state: SignInState, ttlSeconds: number): Promise<void> {
  await store.set(key(uid), JSON.stringify(state), Math.max(1, Math.floor(ttlSeconds)) * 1000);
}

export async function clearState(store: KeyValueStore, uid: string): Promise<void> {
  await store.del(key(uid));
}
