/**
 * English messages of the sign-in pages (the reference catalogue: every other language must
 * provide exactly these keys — `Catalogue` enforces it). Placeholders are `{name}`; values are
 * escaped when the page renders them, so messages are plain text.
 */
export const en = {
  'layout.product': 'InfraNotes',
  'layout.title': '{page} – InfraNotes',
  'layout.title_error': 'Error: {page} – InfraNotes',
  'layout.skip': 'Skip to main content',
  'layout.footer': 'InfraNotes account',

  'common.error_summary_title': 'There is a problem',
  'common.cancel': 'Cancel and return to the application',
  'common.continue_to': 'to continue to {client}',
  'common.signing_in_as': 'Signing in as {email}',
  'common.switch_account': 'Use a different account',
  'common.try_later': 'We can’t check your sign-in right now. Wait a few minutes and try again.',

  'identifier.title': 'Sign in',
  'identifier.email_label': 'Email address',
  'identifier.submit': 'Continue',
  'identifier.error_email': 'Enter an email address in the correct format, like name@example.com',

  'password.title': 'Enter your password',
  'password.label': 'Password',
  'password.submit': 'Sign in',
  'password.error_required': 'Enter your password',
  'password.error_invalid': 'The email address or password is not correct',

  'totp.title': 'Enter your verification code',
  'totp.lead': 'Open the authenticator app on your phone and enter the 6-digit code it shows for InfraNotes.',
  'totp.label': 'Verification code',
  'totp.hint': 'For example, 123456',
  'totp.submit': 'Verify',
  'totp.error_required': 'Enter the 6-digit code from your authenticator app',
  'totp.error_invalid': 'The code is not correct or has already been used. Wait for the next code and try again.',
  'totp.error_locked': 'Too many incorrect codes. Use a recovery code instead, or contact your administrator.',
  'totp.use_recovery': 'Use a recovery code instead',

  'recovery.title': 'Enter a recovery code',
  'recovery.lead': 'Enter one of the recovery codes you saved when you set up two-step verification. Each code works only once.',
  'recovery.label': 'Recovery code',
  'recovery.hint': 'For example, abcd-efgh-jk',
  'recovery.submit': 'Verify',
  'recovery.error_required': 'Enter a recovery code',
  'recovery.error_invalid': 'The recovery code is not correct or has already been used',
  'recovery.error_locked': 'Too many incorrect recovery codes. Contact your administrator.',
  'recovery.use_totp': 'Use your authenticator app instead',

  'unmet.title': 'Two-step verification is required',
  'unmet.body_mfa':
    '{client} requires two-step verification, but your account does not have a second factor set up. Set one up in your account settings, then try again.',
  'unmet.body_phr':
    '{client} requires a passkey or a security key, but your account does not have one set up. Set one up in your account settings, then try again.',
  'unmet.return': 'Return to the application',

  'no_method.title': 'You can’t sign in to this application here',
  'no_method.body': 'The organisation that owns {client} has not enabled a sign-in method this page offers. Contact its administrator.',

  'consent.title': 'Allow {client} to access your account?',
  'consent.lead': '{client} is asking for permission to:',
  'consent.account': 'You are signed in as {email}.',
  'consent.resource': 'Act for you at {resource}:',
  'consent.allow': 'Allow',
  'consent.deny': 'Deny',
  'consent.note': 'Allow access only if you trust {client}.',
  'scope.openid': 'Confirm who you are',
  'scope.profile': 'See your name and profile details',
  'scope.email': 'See your email address',
  'scope.offline_access': 'Keep access while you are not using it',
  'scope.other': 'Use the permission “{scope}”',

  'expired.title': 'This sign-in request has expired',
  'expired.body': 'Go back to the application and start signing in again.',
  'csrf.title': 'This form can’t be accepted',
  'csrf.body':
    'The form was not sent from this sign-in page, or the page has expired. Go back to the application and start signing in again.',
  'unavailable.title': 'Sign-in is temporarily unavailable',
  'unavailable.body': 'We can’t check your sign-in right now. Try again in a few minutes.',
  'failure.title': 'Something went wrong',
  'failure.body': 'Go back to the application and try again. If this keeps happening, contact its administrator.',

  'oidc_error.title': 'This request cannot be completed',
  'oidc_error.body':
    'The application sent a request that InfraNotes could not accept. Go back to the application and try again; if this keeps happening, contact its administrator.',
  'oidc_error.code': 'Error:',

  'logout.title': 'Sign out of InfraNotes?',
  'logout.body': 'You will be signed out of InfraNotes on this device.',
  'logout.requested_by': '{client} asked to sign you out.',
  'logout.confirm': 'Sign out',
  'logout.client_only': 'Sign out of {client} only',
  'logged_out.title': 'You are signed out',
  'logged_out.body': 'You can close this window.',
  'logged_out.client_title': 'You are signed out of {client}',
  'logged_out.client_body': 'You are still signed in to InfraNotes on this device.',
} as const;
