import { actionForm, button, errorSummary, postForm, textField } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, identity, type StepPageModel } from './common.ts';

/**
 * Step 2 for password accounts. Shown for every email typed — known or not — so it reveals
 * nothing about the account; the (hidden) username field lets password managers pair the two.
 */
export function passwordPage(
  m: StepPageModel & { email: string; switchAction: string; magicLinkAction?: string; forgotHref?: string },
): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t('password.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('password.title')}</h1>
<p class="lead">${t('common.continue_to', { client: m.clientName })}</p>
${identity(m, m.email)}
${postForm(
  m.action,
  m.csrf,
  html`<input type="email" name="username" autocomplete="username" value="${m.email}" hidden>
${textField({
  id: 'password',
  name: 'password',
  type: 'password',
  label: t('password.label'),
  autocomplete: 'current-password',
  error: errors.find((e) => e.field === 'password')?.message,
  autofocus: errors.length === 0,
  spellcheck: false,
})}
<div class="actions">${button(t('password.submit'))}</div>`,
  { novalidate: true },
)}
${m.forgotHref ? html`<p><a href="${m.forgotHref}">${t('reset.forgot')}</a></p>` : ''}
<div class="secondary-actions">
${m.magicLinkAction ? actionForm(m.magicLinkAction, m.csrf, t('magic_link.request'), 'secondary') : ''}
${actionForm(m.switchAction, m.csrf, t('common.switch_account'))}
${cancelAction(m)}
</div>`,
  };
}
