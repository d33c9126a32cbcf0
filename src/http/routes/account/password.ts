import { accountPasswordPage } from '../../../../views/pages/account-password.ts';
import { policyMessageText } from '../../../../views/pages/password-policy.ts';
import { changeAccountPassword, sendNotice } from '../../../account/index.ts';
import { hasSecondFactorEnrolled } from '../../../identity/index.ts';
import { endAccountSessions } from '../../../oidc/account-sessions.ts';
import type { AccountRequest } from './request.ts';
import { type AccountRoute, type FieldError, formField } from './route.ts';

async function page(a: AccountRequest, errors?: FieldError[], status = 200): Promise<void> {
  const mfa = await hasSecondFactorEnrolled(a.deps.db, a.user.id);
  const min = mfa ? a.deps.passwordMinLength.withMfa : a.deps.passwordMinLength.withoutMfa;
  a.render(accountPasswordPage({ ...a.model(errors), hasPassword: a.user.hasPassword, minLength: min }), status);
}

/**
 * `/account/password`. A successful change ends every other session of the user (and the grants
 * issued through them): a password is usually changed because it may be known to someone else,
 * so leaving that someone signed in would defeat the change (ADR-0018).
 */
export const passwordRoutes: AccountRoute[] = [
  {
    method: 'GET',
    path: 'password',
    section: 'password',
    async handler(_ctx, a) {
      if (!a.requireRecent('password')) return;
      await page(a);
    },
  },
  {
    method: 'POST',
    path: 'password',
    section: 'password',
    async handler(ctx, a) {
      if (!a.requireRecent('password')) return;
      const result = await changeAccountPassword(
        a.deps.db,
        a.deps.passwords,
        {
          userId: a.user.id,
          currentPassword: formField(ctx, 'current_password', 4096),
          newPassword: formField(ctx, 'new_password', 4096) ?? '',
        },
        a.meta,
      );
      if (!result.ok) {
        const { t } = a.tr;
        switch (result.reason) {
          case 'current_required':
            return page(a, [{ field: 'current_password', message: t('account.password.error_current_required') }], 400);
          case 'wrong_password':
            return page(a, [{ field: 'current_password', message: t('account.password.error_wrong') }], 400);
          case 'throttled':
            return page(
              a,
              [{ field: 'current_password', message: t('account.password.error_throttled', { seconds: result.retryAfterSeconds }) }],
              429,
            );
          case 'new_required':
            return page(a, [{ field: 'new_password', message: t('reset.error_required') }], 400);
          case 'policy':
            return page(
              a,
              result.messages.map((m) => ({ field: 'new_password', message: policyMessageText(a.tr, m) })),
              400,
            );
        }
      }
      await endAccountSessions(
        a.deps.engine,
        { userId: a.user.id, except: a.session.sessionUid, reason: 'password_changed' },
        { actor: { type: 'user', id: a.user.id }, ...a.meta },
      );
      await sendNotice(a.deps.mail, 'password_changed', a.user.email, a.user.displayName);
      a.redirect('overview', 'password_changed');
    },
  },
];
