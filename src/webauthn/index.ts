// Passkeys / WebAuthn (ADR-0014): relying party, registration and authentication ceremonies,
// credential management and the browser assets. The sign-in and account pages call only this.
export {
  loadPasskeyBrowserAssets,
  PASSKEY_SCRIPT_PATH,
  type PasskeyBrowserAsset,
  SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH,
} from './browser-bundle.ts';
export { CHALLENGE_BYTES, CHALLENGE_TTL_MS } from './challenges.ts';
export type { WebAuthnContext } from './context.ts';
export {
  CREDENTIAL_NAME_MAX,
  type CredentialDeviceType,
  countPasskeys,
  listPasskeys,
  MAX_CREDENTIALS_PER_USER,
  type PasskeySummary,
  removeAllPasskeys,
  removePasskey,
  renamePasskey,
  sanitizeCredentialName,
} from './credentials.ts';
export {
  createRelyingParty,
  DEFAULT_RP_NAME,
  type RelyingParty,
  type RelyingPartyOptions,
  relyingPartyFromConfig,
} from './relying-party.ts';
export {
  amrFor,
  createPasskeyService,
  type FinishAuthenticationInput,
  type FinishAuthenticationResult,
  type FinishRegistrationInput,
  type FinishRegistrationResult,
  type PasskeyAmr,
  type PasskeyFailureReason,
  type PasskeyService,
  type PasskeyServiceOptions,
  type RegistrationKind,
  type StartAuthenticationInput,
  type StartAuthenticationResult,
  type StartRegistrationInput,
  SUPPORTED_ALGORITHMS,
  USER_HANDLE_BYTES,
} from './service.ts';
