// Brute-force protection (ADR-0012): exponential-backoff limiting per account and per source
// address over the KeyValueStore (fails closed), and durable per-account, per-factor failure
// counting with lockout in PostgreSQL.
export { type AuthFactor, FACTORS, isAuthFactor } from './factors.ts';
export { createFactorGuard, type FactorGuard, type GuardedAttempt, type GuardRefusal } from './guard.ts';
export {
  BackoffLimiter,
  type BackoffPolicy,
  backoffDelayMs,
  type KeyStatus,
  type LimitDecision,
  type LimiterOptions,
  type LimitKey,
} from './limiter.ts';
export {
  assertThreshold,
  type ChargeResult,
  chargeAttempt,
  clearFailures,
  type FactorLockState,
  getLockState,
  isLocked,
  MAX_LOCKOUT_THRESHOLD,
  recordUnchargedFailure,
  type SettleResult,
  settleAttempt,
  UNCHARGED_WITHIN,
  type UnlockOptions,
  unlockAccount,
} from './lockout.ts';
export {
  type AuthThrottle,
  type AuthThrottleConfig,
  createAuthThrottle,
  identifierHash,
  normalizeIdentifier,
  sourceKey,
  type ThrottleSubject,
  throttleKeys,
  throttlePolicies,
  validIp,
} from './throttle.ts';
