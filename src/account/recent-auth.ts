/**
 * The recent-authentication rule of the account pages (ASVS 7.5.1/7.5.3): a sensitive change is
 * allowed only while the sign-in that the session rests on is at most `windowSeconds` old. The
 * sign-in time is the engine's `auth_time`, which a step-up does not refresh (a second factor
 * proves presence, not a fresh sign-in); a fresh one comes from `prompt=login`.
 */
export function isRecentAuth(authTimeSeconds: number, windowSeconds: number, nowMs: number = Date.now()): boolean {
  if (!Number.isFinite(authTimeSeconds) || authTimeSeconds <= 0) return false;
  const age = nowMs / 1000 - authTimeSeconds;
  // A sign-in "from the future" beyond clock tolerance is not trusted either.
  return age <= windowSeconds && age >= -30;
}
