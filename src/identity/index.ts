// Users' passwords (ADR-0012): NIST 800-63B policy, argon2id hashing with timing equalisation, and
// the verify/set/change service the sign-in and account pages call. Brute-force protection
// (throttling, lockout) lives in src/security.
export { queueBackchannelLogouts } from './backchannel-logouts.ts';
export {
  type Argon2Params,
  argon2ParamsFromConfig,
  createPasswordHasher,
  DEFAULT_ARGON2_PARAMS,
  hashNeedsRehash,
  hashPassword,
  normalizePassword,
  type ParsedArgon2Hash,
  type PasswordHasher,
  parseArgon2Hash,
  type VerifyResult,
  verifyPassword,
} from './password-hash.ts';
export {
  checkPassword,
  commonPasswords,
  DEFAULT_PASSWORD_POLICY,
  foldLookalikes,
  minimumLength,
  PASSWORD_POLICY_MESSAGES,
  type PasswordContext,
  type PasswordPolicyOptions,
  type PasswordPolicyReason,
  type PasswordPolicyResult,
  type PasswordVariant,
  type PolicyMessage,
  passwordLength,
  passwordPolicyFromConfig,
  passwordVariants,
  policyMessages,
} from './password-policy.ts';
export {
  applyPasswordVerified,
  type ChangePasswordInput,
  createPasswordService,
  createPasswordServiceFromConfig,
  type DeferredWrite,
  hasSecondFactorEnrolled,
  type PasswordAttempt,
  type PasswordFailureReason,
  type PasswordService,
  type PasswordServiceOptions,
  type PasswordVerification,
  type PasswordVerifiedWrites,
  type SetPasswordContext,
  type VerifyOptions,
} from './passwords.ts';
export { purgePendingSignUps, SIGN_UP_VERIFICATION_TTL_S } from './sign-ups.ts';
export {
  type CreateUserInput,
  createUser,
  type DisableOptions,
  type DisableResult,
  disableUser,
  enableUser,
  type GrantStorage,
  getUser,
  listUsers,
  normalizeEmail,
  setUserPassword,
  type UserActor,
  type UserRecord,
} from './users.ts';
