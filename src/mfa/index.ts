// Second factors (ADR-0013): TOTP and recovery codes. The sign-in and account flows call only this.
export type { MfaContext } from './context.ts';
export {
  type ConsumeRecoveryCodeResult,
  consumeRecoveryCode,
  countRemainingRecoveryCodes,
  deleteRecoveryCodes,
  type GeneratedRecoveryCodes,
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
  RECOVERY_CODE_LENGTH,
} from './recovery-codes.ts';
export {
  type ConfirmTotpResult,
  confirmTotp,
  type EnrolTotpInput,
  enrolTotp,
  getTotpCredential,
  removeTotp,
  TOTP_ALGORITHM,
  TOTP_DIGITS,
  TOTP_ENROLMENT_TTL_SECONDS,
  TOTP_PERIOD_SECONDS,
  TOTP_SECRET_BYTES,
  TOTP_WINDOW_STEPS,
  type TotpCredentialSummary,
  type TotpEnrolment,
  toBase32,
  type VerifyTotpResult,
  verifyTotp,
} from './totp.ts';
