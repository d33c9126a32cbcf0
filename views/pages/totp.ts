import { button, errorSummary, postForm, textField } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, identity, type StepPageModel } from './common.ts';

/** Second factor: the code of the user's authenticator app, with the way out to a recovery code. */
export function totpPage(m: StepPageModel & { email?: string; recoveryHref: string; passkeyHref?: string }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t('totp.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('totp.title')}</h1>
${identity(m, m.email)}
<p>${t('totp.lead')}</p>
${postForm(
  m.action,
  m.csrf,
  html`${textField({
    id: 'code',
    name: 'code',
    label: t('totp.label'),
    hint: t('totp.hint'),
    autocomplete: 'one-time-code',
    inputmode: 'numeric',
    maxlength: 12,
    error: errors.find((e) => e.field === 'code')?.message,
    autofocus: errors.length === 0,
    spellcheck: false,
  })}
<div class="actions">${button(t('totp.submit'))}</div>`,
  { novalidate: true },
)}
<div class="secondary-actions">
${m.passkeyHref ? html`<p><a href="${m.passkeyHref}">${t('totp.use_passkey')}</a></p>` : ''}
<p><a href="${m.recoveryHref}">${t('totp.use_recovery')}</a></p>
${cancelAction(m)}
</div>`,
  };
}
