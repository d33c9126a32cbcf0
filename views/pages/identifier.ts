import { PASSKEY_SCRIPTS } from '../assets.ts';
import { button, emailField, errorSummary, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, type StepPageModel } from './common.ts';
import { type PasskeyEndpoints, passkeyAutofillData, passkeyButton } from './passkey.ts';

/** Step 1: who is signing in (nothing about the account is looked up or revealed here). */
export function identifierPage(m: StepPageModel & { email?: string; passkey?: PasskeyEndpoints; signUpHref?: string }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  const emailError = errors.find((e) => e.field === 'email')?.message;
  return {
    title: t('identifier.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    ...(m.passkey ? { scripts: PASSKEY_SCRIPTS } : {}),
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('identifier.title')}</h1>
<p class="lead">${t('common.continue_to', { client: m.clientName })}</p>
${postForm(
  m.action,
  m.csrf,
  html`${emailField({
    label: t('identifier.email_label'),
    value: m.email,
    // Conditional UI: the browser offers the account's passkeys in the email field's autofill.
    autocomplete: m.passkey ? 'username webauthn' : 'username',
    ...(m.passkey ? { data: passkeyAutofillData(m.passkey) } : {}),
    error: emailError,
    autofocus: errors.length === 0,
  })}
<div class="actions">${button(t('identifier.submit'))}</div>`,
  { novalidate: true },
)}
${m.passkey ? passkeyButton(m.tr, m.passkey, t('identifier.passkey'), 'secondary') : ''}
${m.signUpHref ? html`<p><a href="${m.signUpHref}">${t('signup.link')}</a></p>` : ''}
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}
