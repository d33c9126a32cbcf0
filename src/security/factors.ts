/**
 * Authentication factors, exactly as `auth_failure_counters.factor` allows them
 * (migrations/20261128100020_identity.ts). Every way in is throttled and counted under one of these.
 */
export const FACTORS = ['password', 'totp', 'recovery_code', 'magic_link', 'webauthn', 'email_otp'] as const;

export type AuthFactor = (typeof FACTORS)[number];

export function isAuthFactor(v: unknown): v is AuthFactor {
  return typeof v === 'string' && (FACTORS as readonly string[]).includes(v);
}
