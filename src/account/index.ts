// Account self-service (ADR-0018): the domain side of the pages at /account — profile, email
// change, password, second factors. Free of Koa and of the engine: sessions and grants of the
// engine are src/oidc/account-sessions.ts, the pages src/http/routes/account/.
export {
  ACCOUNT_BASE_PATH,
  ACCOUNT_CALLBACK_PATH,
  ACCOUNT_CLIENT_ID,
  accountCallbackUri,
  ensureAccountClient,
} from './console-client.ts';
export type { AccountContext } from './context.ts';
export {
  confirmEmailChange,
  EMAIL_CHANGE_REQUESTS_PER_HOUR,
  type EmailChangeConfirmation,
  type EmailChangeFailure,
  type EmailChangeRequest,
  peekEmailChange,
  requestEmailChange,
} from './email-change.ts';
export { type AccountMail, sendEmailChangeLink, sendNotice } from './mail.ts';
export { changeAccountPassword, type PasswordChangeInput, type PasswordChangeResult } from './password.ts';
export { type AccountProfile, getAccountProfile, type ProfileInput, profileInput, updateAccountProfile } from './profile.ts';
export { isRecentAuth } from './recent-auth.ts';
export { removeAccountPasskey, removeAccountTotp, type SecondFactorSummary, secondFactorSummary } from './second-factors.ts';
