import { button, postForm, textField } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, fieldError } from './account-common.ts';

export interface PasswordModel extends AccountPageModel {
  /** Whether the account has a password now (else: "Set a password", no current one asked). */
  hasPassword: boolean;
  /** The policy minimum for this account (15, or 8 with a second factor). */
  minLength: number;
}

/** `/account/password` (reached only with a recent sign-in). */
export function accountPasswordPage(m: PasswordModel): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  const title = m.hasPassword ? t('account.password.title') : t('account.password.set_title');
  return accountPage(m, {
    section: 'password',
    title,
    body: html`<p class="lead">${t('account.password.lead')}</p>
${postForm(
  `${m.base}/password`,
  m.csrf,
  html`${m.email ? html`<input type="email" name="username" autocomplete="username" value="${m.email}" hidden>` : ''}
${
  m.hasPassword
    ? textField({
        id: 'current_password',
        name: 'current_password',
        type: 'password',
        label: t('account.password.current'),
        autocomplete: 'current-password',
        error: fieldError(errors, 'current_password'),
        autofocus: errors.length === 0,
        spellcheck: false,
      })
    : ''
}
${textField({
  id: 'new_password',
  name: 'new_password',
  type: 'password',
  label: t('account.password.new'),
  hint: t('account.password.hint', { min: m.minLength }),
  autocomplete: 'new-password',
  error:
    errors
      .filter((e) => e.field === 'new_password')
      .map((e) => e.message)
      .join(' ') || undefined,
  autofocus: !m.hasPassword && errors.length === 0,
  spellcheck: false,
})}
<div class="actions">${button(m.hasPassword ? t('account.password.submit') : t('account.password.set_submit'))}</div>`,
  { novalidate: true },
)}`,
  });
}
