/**
 * Authentication context classes (`acr`) and methods (`amr`) — what a sign-in proved, in the
 * tokens (ID token and access token `acr`/`amr`, contracts/jwt-claims.md) and in requests
 * (`acr_values`, tenant MFA policy). Pure: the interaction policy and the sign-in flow share it.
 *
 * Classes are ordered by strength; a request for one is met by any stronger one:
 *
 * | acr                         | level | met by                                                  |
 * | --------------------------- | ----- | ------------------------------------------------------- |
 * | `urn:infranotes:acr:pwd`    | 1     | one factor (password; later magic link, passkey alone)  |
 * | `urn:infranotes:acr:mfa`    | 2     | two factors (password + TOTP or a recovery code)        |
 * | `urn:infranotes:acr:phr`    | 3     | phishing-resistant MFA (passkey with user verification) |
 *
 * `amr` values are RFC 8176's: `pwd` (password), `otp` (TOTP or a one-time recovery code),
 * `mfa` (more than one factor), `hwk`/`swk` (a device-bound / synced passkey) and `user` (the passkey
 * verified the user: with `hwk`/`swk` a multi-factor authenticator on its own).
 * RFC 8176 has no value for an emailed sign-in link: it is the custom `email` (possession of the
 * mailbox; one factor, `pwd` level, never combined with `otp` into `mfa` — both are possession).
 */
export const ACR = {
  pwd: 'urn:infranotes:acr:pwd',
  mfa: 'urn:infranotes:acr:mfa',
  phr: 'urn:infranotes:acr:phr',
} as const;

export type AcrValue = (typeof ACR)[keyof typeof ACR];

/** Every class, weakest first (discovery's `acr_values_supported`). */
export const ACR_VALUES: readonly AcrValue[] = [ACR.pwd, ACR.mfa, ACR.phr];

export const ACR_LEVEL: Readonly<Record<AcrValue, number>> = { [ACR.pwd]: 1, [ACR.mfa]: 2, [ACR.phr]: 3 };

/** The level of an `acr` (0 for none or an unknown value). */
export function acrLevel(acr: unknown): number {
  return typeof acr === 'string' && acr in ACR_LEVEL ? ACR_LEVEL[acr as AcrValue] : 0;
}

export const AMR = { pwd: 'pwd', otp: 'otp', mfa: 'mfa', hwk: 'hwk', swk: 'swk', user: 'user', email: 'email' } as const;

/** Methods that count as a knowledge or possession factor of their own. */
const FACTOR_OF: Readonly<Record<string, string>> = {
  pwd: 'knowledge',
  otp: 'possession',
  hwk: 'possession',
  swk: 'possession',
  email: 'possession',
};

/**
 * The normalised `amr` of a sign-in: known methods, de-duplicated, in a stable order, with `mfa`
 * added exactly when two different kinds of factor were used.
 */
export function normalizeAmr(methods: readonly string[]): string[] {
  const set = new Set(methods.filter((m) => m in FACTOR_OF || m === AMR.user));
  const kinds = new Set([...set].map((m) => FACTOR_OF[m]).filter(Boolean));
  // A passkey with user verification (`user` next to `hwk`/`swk`) is a multi-factor cryptographic
  // authenticator on its own (NIST SP 800-63B: possession plus PIN or biometric; ADR-0014).
  if (set.has(AMR.user) && (set.has(AMR.hwk) || set.has(AMR.swk))) kinds.add('inherence');
  if (kinds.size >= 2) set.add(AMR.mfa);
  const order = [AMR.pwd, AMR.email, AMR.hwk, AMR.swk, AMR.otp, AMR.user, AMR.mfa] as string[];
  return [...set].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/**
 * The class a set of methods earns: `phr` for a passkey with user verification (every WebAuthn
 * assertion is bound to our origin and RP ID, ADR-0014), whether alone or after a password.
 */
export function acrForAmr(amr: readonly string[]): AcrValue | undefined {
  const methods = new Set(normalizeAmr(amr));
  if (methods.size === 0) return undefined;
  if (methods.has(AMR.mfa) && (methods.has(AMR.hwk) || methods.has(AMR.swk)) && methods.has(AMR.user)) return ACR.phr;
  if (methods.has(AMR.mfa)) return ACR.mfa;
  return ACR.pwd;
}

/** Tenant MFA policy (`tenants.settings.mfa.policy`). */
export type MfaPolicy = 'off' | 'optional' | 'required' | 'phishing_resistant';

export function parseMfaPolicy(value: unknown): MfaPolicy {
  return value === 'off' || value === 'required' || value === 'phishing_resistant' ? value : 'optional';
}

const POLICY_LEVEL: Readonly<Record<MfaPolicy, number>> = { off: 0, optional: 0, required: 2, phishing_resistant: 3 };

/**
 * The level an authorization request needs: the weakest known class it lists in `acr_values`
 * (the list is a set of acceptable classes; unknown values are ignored), and at least the
 * tenant policy's. 0 = anything goes.
 */
export function requiredAcrLevel(acrValues: unknown, policy: MfaPolicy = 'optional'): number {
  let requested = 0;
  if (typeof acrValues === 'string') {
    const levels = acrValues
      .split(' ')
      .map((v) => acrLevel(v))
      .filter((l) => l > 0);
    if (levels.length) requested = Math.min(...levels);
  }
  return Math.max(requested, POLICY_LEVEL[policy]);
}
