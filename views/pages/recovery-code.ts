import { button, errorSummary, postForm, textField } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, identity, type StepPageModel } from './common.ts';

/** Second factor fallback: one of the user's single-use recovery codes. */
export function recoveryCodePage(m: StepPageModel & { email?: string; totpHref: string }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t('recovery.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('recovery.title')}</h1>
${identity(m, m.email)}
<p>${t('recovery.lead')}</p>
${postForm(
  m.action,
  m.csrf,
  html`${textField({
    id: 'code',
    name: 'code',
    label: t('recovery.label'),
    hint: t('recovery.hint'),
    autocomplete: 'off',
    maxlength: 32,
    error: errors.find((e) => e.field === 'code')?.message,
    autofocus: errors.length === 0,
    spellcheck: false,
  })}
<div class="actions">${button(t('recovery.submit'))}</div>`,
  { novalidate: true },
)}
<div class="secondary-actions">
<p><a href="${m.totpHref}">${t('recovery.use_totp')}</a></p>
${cancelAction(m)}
</div>`,
  };
}
