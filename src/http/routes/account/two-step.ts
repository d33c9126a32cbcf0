import { accountRecoveryCodesPage, accountTotpSetupPage, accountTwoStepPage } from '../../../../views/pages/account-two-step.ts';
import { removeAccountTotp, secondFactorSummary, sendNotice } from '../../../account/index.ts';
import { confirmTotp, countRemainingRecoveryCodes, enrolTotp, generateRecoveryCodes } from '../../../mfa/index.ts';
import type { AccountRequest } from './request.ts';
import { type AccountRoute, formField } from './route.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The codes page carries secrets shown once: it is the response to the POST, never a page to come back to. */
async function showNewRecoveryCodes(a: AccountRequest, notice?: string): Promise<void> {
  const { codes } = await generateRecoveryCodes(a.deps.db, a.deps.kek, a.user.id, a.meta);
  a.render(accountRecoveryCodesPage({ ...a.model(), ...(notice ? { notice } : {}), codes }));
}

/**
 * `/account/two-step`: the authenticator app (enrol with a QR code rendered here and a manual
 * key, confirm with a first code, replace, remove) and the recovery codes (regenerate; shown
 * once). Every change needs a recent sign-in.
 */
export const twoStepRoutes: AccountRoute[] = [
  {
    method: 'GET',
    path: 'two-step',
    section: 'two-step',
    async handler(_ctx, a) {
      const f = await secondFactorSummary(a.deps.db, a.user.id);
      a.render(
        accountTwoStepPage({
          ...a.model(),
          totpSince: f.totp?.enrolledAt ?? null,
          hasPasskey: f.passkeys.length > 0,
          recoveryCodesLeft: f.recoveryCodesLeft,
          recent: a.recent,
        }),
      );
    },
  },
  {
    method: 'POST',
    path: 'two-step/totp/setup',
    section: 'two-step',
    async handler(_ctx, a) {
      if (!a.requireRecent('two-step')) return;
      const enrolment = await enrolTotp(
        a.deps.db,
        a.deps.kek,
        { userId: a.user.id, accountName: a.user.email ?? a.user.id, serviceName: a.deps.mail.productName },
        a.meta,
      );
      a.render(
        accountTotpSetupPage({
          ...a.model(),
          credentialId: enrolment.credentialId,
          enrolment: { qrSvg: enrolment.qrSvg, secretBase32: enrolment.secretBase32 },
        }),
      );
    },
  },
  {
    method: 'POST',
    path: 'two-step/totp/confirm',
    section: 'two-step',
    async handler(ctx, a) {
      if (!a.requireRecent('two-step')) return;
      const credentialId = formField(ctx, 'credential_id', 64) ?? '';
      const result = await confirmTotp(
        a.deps.db,
        a.deps.kek,
        { userId: a.user.id, credentialId: UUID.test(credentialId) ? credentialId : '', code: formField(ctx, 'code', 64) ?? '' },
        a.meta,
      );
      if (!result.ok) {
        const message = a.tr.t(result.reason === 'invalid' ? 'account.totp.error_invalid' : 'account.totp.error_expired');
        return a.render(accountTotpSetupPage({ ...a.model([{ field: 'code', message }]), credentialId }), 400);
      }
      await sendNotice(a.deps.mail, 'second_factor_added', a.user.email, a.user.displayName);
      // A first second factor comes with its recovery codes.
      if ((await countRemainingRecoveryCodes(a.deps.db, a.user.id)) === 0) {
        return showNewRecoveryCodes(a, a.tr.t('account.notice.totp_enabled'));
      }
      a.redirect('two-step', 'totp_enabled');
    },
  },
  {
    method: 'POST',
    path: 'two-step/totp/remove',
    section: 'two-step',
    async handler(_ctx, a) {
      if (!a.requireRecent('two-step')) return;
      const { removed } = await removeAccountTotp(a.deps.db, a.user.id, a.meta);
      if (removed) await sendNotice(a.deps.mail, 'second_factor_removed', a.user.email, a.user.displayName);
      a.redirect('two-step', removed ? 'totp_removed' : undefined);
    },
  },
  {
    method: 'POST',
    path: 'two-step/recovery-codes',
    section: 'two-step',
    async handler(_ctx, a) {
      if (!a.requireRecent('two-step')) return;
      const f = await secondFactorSummary(a.deps.db, a.user.id);
      // Codes without a second factor would be a way around nothing.
      if (!f.totp && f.passkeys.length === 0) return a.redirect('two-step');
      await showNewRecoveryCodes(a);
    },
  },
];
