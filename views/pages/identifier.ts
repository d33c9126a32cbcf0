import { PASSKEY_SCRIPTS } from '../assets.ts';
import { button, emailField, errorSummary, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, type StepPageModel } from './common.ts';
import { type PasskeyEndpoints, passkeyAutofillData, passkeyButton } from './passkey.ts';

/**
 * Step 1: who is signing in (nothing about the account is looked up or revealed here). Where the
 * tenant allows no passwords, the email form asks for a sign-in link at once (`emailForm:
 * 'magic_link'`, its action the magic-link step), or is left out when only passkeys remain.
 */
export function identifierPage(
  m: StepPageModel & { email?: string; passkey?: PasskeyEndpoints; signUpHref?: string; emailForm?: 'continue' | 'magic_link' | 'none' },
): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  const emailError = errors.find((e) => e.field === 'email')?.message;
  const emailForm = m.emailForm ?? 'continue';
  return {
    title: t('identifier.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    ...(m.passkey ? { scripts: PASSKEY_SCRIPTS } : {}),
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('identifier.title')}</h1>
<p class="lead">${t('common.continue_to', { client: m.clientName })}</p>
${
  emailForm === 'none'
    ? ''
    : postForm(
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
<div class="actions">${button(t(emailForm === 'magic_link' ? 'magic_link.request' : 'identifier.submit'))}</div>`,
        { novalidate: true },
      )
}
${m.passkey ? passkeyButton(m.tr, m.passkey, t('identifier.passkey'), emailForm === 'none' ? 'primary' : 'secondary') : ''}
${m.signUpHref ? html`<p><a href="${m.signUpHref}">${t('signup.link')}</a></p>` : ''}
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}
