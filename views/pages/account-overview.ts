import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, formatDate, sectionHref } from './account-common.ts';

export interface OverviewModel extends AccountPageModel {
  profile: { email: string | null; emailVerified: boolean; displayName: string | null; hasPassword: boolean };
  totp: boolean;
  passkeys: number;
  recoveryCodesLeft: number;
  signedInAt: Date;
}

/** `/account`: a summary of the account, each row linking to where it is changed. */
export function accountOverviewPage(m: OverviewModel): PageContent {
  const { t } = m.tr;
  const row = (label: string, value: string, section: Parameters<typeof sectionHref>[1]) =>
    html`<div class="summary-row"><dt>${label}</dt><dd>${value}</dd><dd><a href="${sectionHref(m.base, section)}">${t('account.overview.change')}<span class="visually-hidden"> ${label}</span></a></dd></div>`;
  const email = m.profile.email
    ? `${m.profile.email}${m.profile.emailVerified ? '' : ` ${t('account.overview.unverified')}`}`
    : t('account.not_set');
  return accountPage(m, {
    section: 'overview',
    title: t('account.overview.title'),
    body: html`<p class="lead">${t('account.overview.lead')}</p>
<dl class="summary">
${row(t('account.overview.email'), email, 'email')}
${row(t('account.overview.name'), m.profile.displayName ?? t('account.not_set'), 'profile')}
${row(t('account.overview.password'), m.profile.hasPassword ? t('account.overview.password_set') : t('account.not_set'), 'password')}
${row(t('account.overview.totp'), m.totp ? t('account.overview.on') : t('account.overview.off'), 'two-step')}
${row(t('account.overview.passkeys'), String(m.passkeys), 'passkeys')}
${row(t('account.overview.recovery'), String(m.recoveryCodesLeft), 'two-step')}
</dl>
<p class="muted">${t('account.overview.signed_in_at', { date: formatDate(m.tr, m.signedInAt) })}</p>`,
  });
}
