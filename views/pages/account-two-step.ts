import { actionForm, button, postForm, textField } from '../components.ts';
import { html, type SafeHtml, trustedHtml } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, fieldError, formatDate, sectionHref } from './account-common.ts';

export interface TwoStepModel extends AccountPageModel {
  totpSince: Date | null;
  hasPasskey: boolean;
  recoveryCodesLeft: number;
  /** The sign-in is recent enough for changes (else each change asks for a fresh one first). */
  recent: boolean;
}

/** `/account/two-step`: the authenticator app and the recovery codes. */
export function accountTwoStepPage(m: TwoStepModel): PageContent {
  const { t } = m.tr;
  const hasFactor = m.totpSince !== null || m.hasPasskey;
  return accountPage(m, {
    section: 'two-step',
    title: t('account.two_step.title'),
    body: html`<p class="lead">${t('account.two_step.lead')}</p>
${m.recent ? '' : html`<p class="muted">${t('account.recent_needed')}</p>`}
<section aria-labelledby="totp-heading">
<h2 id="totp-heading">${t('account.totp.heading')}</h2>
<p>${m.totpSince ? t('account.totp.on', { date: formatDate(m.tr, m.totpSince) }) : t('account.totp.off')}</p>
<div class="actions">
${actionForm(`${m.base}/two-step/totp/setup`, m.csrf, m.totpSince ? t('account.totp.replace') : t('account.totp.setup'), m.totpSince ? 'secondary' : 'primary')}
${m.totpSince ? actionForm(`${m.base}/two-step/totp/remove`, m.csrf, t('account.totp.remove'), 'secondary') : ''}
</div>
</section>
<section aria-labelledby="recovery-heading">
<h2 id="recovery-heading">${t('account.recovery.heading')}</h2>
<p>${t('account.recovery.lead_short')}</p>
${
  hasFactor
    ? html`<p>${t('account.recovery.left', { count: m.recoveryCodesLeft })}</p>
<div class="actions">${actionForm(`${m.base}/two-step/recovery-codes`, m.csrf, t('account.recovery.regenerate'), 'secondary')}</div>`
    : html`<p class="muted">${t('account.recovery.needs_factor')}</p>`
}
</section>`,
  });
}

/** Groups a base32 key in fours for reading and typing (apps ignore the spaces). */
const grouped = (key: string) => key.replace(/(.{4})(?=.)/g, '$1 ');

export interface TotpSetupModel extends AccountPageModel {
  credentialId: string;
  /** Absent when re-shown after a wrong code (the key is shown once). */
  enrolment?: { qrSvg: string; secretBase32: string };
}

/** Enrolment: the QR code (rendered by us, inline SVG), the manual key, and the first code to confirm. */
export function accountTotpSetupPage(m: TotpSetupModel): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  const enrolment: SafeHtml = m.enrolment
    ? html`<p>${t('account.totp.setup_scan')}</p>
<div class="qr" role="img" aria-label="${t('account.totp.qr_label')}">${trustedHtml(m.enrolment.qrSvg)}</div>
<p>${t('account.totp.manual')}</p>
<p><code class="manual-key" id="manual-key">${grouped(m.enrolment.secretBase32)}</code></p>`
    : html``;
  return accountPage(m, {
    section: 'two-step',
    title: t('account.totp.setup_title'),
    body: html`${enrolment}
${postForm(
  `${m.base}/two-step/totp/confirm`,
  m.csrf,
  html`<input type="hidden" name="credential_id" value="${m.credentialId}">
${textField({
  id: 'code',
  name: 'code',
  label: t('account.totp.confirm_label'),
  hint: t('account.totp.confirm_hint'),
  autocomplete: 'one-time-code',
  inputmode: 'numeric',
  maxlength: 12,
  error: fieldError(errors, 'code'),
  autofocus: errors.length > 0,
  spellcheck: false,
})}
<div class="actions">${button(t('account.totp.confirm_submit'))}</div>`,
  { novalidate: true },
)}
<div class="actions">${actionForm(`${m.base}/two-step/totp/setup`, m.csrf, t('account.totp.start_again'), 'link')}</div>`,
  });
}

/** The new recovery codes, shown once. */
export function accountRecoveryCodesPage(m: AccountPageModel & { codes: readonly string[] }): PageContent {
  const { t } = m.tr;
  return accountPage(m, {
    section: 'two-step',
    title: t('account.recovery.title'),
    body: html`<p class="lead">${t('account.recovery.lead')}</p>
<ol class="recovery-codes" aria-label="${t('account.recovery.codes_label')}">${m.codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<p><a class="button-link" href="${sectionHref(m.base, 'two-step')}">${t('account.recovery.done')}</a></p>`,
  });
}
