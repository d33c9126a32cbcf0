import { button, emailField, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, fieldError, sectionHref } from './account-common.ts';

/** `/account/email`: the new address (a link is mailed to it; nothing changes until it is opened). */
export function accountEmailPage(m: AccountPageModel & { value?: string }): PageContent {
  const { t } = m.tr;
  return accountPage(m, {
    section: 'email',
    title: t('account.email.title'),
    body: html`${m.email ? html`<p>${t('account.email.current', { email: m.email })}</p>` : ''}
<p class="lead">${t('account.email.lead')}</p>
${postForm(
  `${m.base}/email`,
  m.csrf,
  html`${emailField({
    label: t('account.email.new'),
    value: m.value,
    error: fieldError(m.errors, 'email'),
    autofocus: (m.errors ?? []).length === 0,
    autocomplete: 'email',
  })}
<div class="actions">${button(t('account.email.submit'))}</div>`,
  { novalidate: true },
)}`,
  });
}

/** After a request: the same answer whether or not the address could be used. */
export function accountEmailSentPage(m: AccountPageModel & { newEmail: string }): PageContent {
  const { t } = m.tr;
  return accountPage(m, {
    section: 'email',
    title: t('account.email.sent_title'),
    body: html`<p class="lead">${t('account.email.sent_body', { email: m.newEmail })}</p>
<p><a href="${sectionHref(m.base, 'overview')}">${t('account.back')}</a></p>`,
  });
}

/** Behind the emailed link (GET): a button; only its POST applies the change. */
export function emailChangeConfirmPage(tr: Translator, m: { action: string; csrf: string; token: string; email: string }): PageContent {
  const { t } = tr;
  return {
    title: t('account.email_confirm.title'),
    body: html`<h1>${t('account.email_confirm.title')}</h1>
<p class="lead">${t('account.email_confirm.body', { email: m.email })}</p>
${postForm(
  m.action,
  m.csrf,
  html`<input type="hidden" name="token" value="${m.token}">
<div class="actions">${button(t('account.email_confirm.submit'))}</div>`,
)}`,
  };
}
