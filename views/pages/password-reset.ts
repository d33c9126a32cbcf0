import { button, emailField, errorSummary, type FieldError, postForm, textField } from '../components.ts';
import { html } from '../html.ts';
import type { MessageKey, Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, emailSentPage, type StepPageModel } from './common.ts';

/** "Forgot your password?": the address to send a reset link to (nothing is looked up here). */
export function resetRequestPage(m: StepPageModel & { email?: string; backHref: string }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t('reset.request_title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('reset.request_title')}</h1>
<p class="lead">${t('reset.request_body')}</p>
${postForm(
  m.action,
  m.csrf,
  html`${emailField({
    label: t('identifier.email_label'),
    value: m.email,
    error: errors.find((e) => e.field === 'email')?.message,
    autofocus: errors.length === 0,
  })}
<div class="actions">${button(t('reset.request_submit'))}</div>`,
  { novalidate: true },
)}
<p><a href="${m.backHref}">${t('magic_link.back')}</a></p>
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}

/** The one answer to every reset request, known address or not. */
export const resetSentPage = (m: StepPageModel & { email: string; backHref: string }): PageContent =>
  emailSentPage(m, { title: 'reset.sent_title', body: 'reset.sent_body' });

/** Behind the emailed reset link: the new password (GET shows it, only the POST redeems the link). */
export function resetFormPage(
  tr: Translator,
  m: { action: string; csrf: string; token: string; email: string; errors?: readonly FieldError[] },
): PageContent {
  const { t } = tr;
  const errors = m.errors ?? [];
  return {
    title: t('reset.form_title'),
    hasErrors: errors.length > 0,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('reset.form_title')}</h1>
<p class="lead">${t('reset.form_body', { email: m.email })}</p>
${postForm(
  m.action,
  m.csrf,
  html`<input type="hidden" name="token" value="${m.token}">
<input type="email" name="username" autocomplete="username" value="${m.email}" hidden>
${textField({
  id: 'password',
  name: 'password',
  type: 'password',
  label: t('reset.new_password'),
  hint: t('reset.new_password_hint'),
  autocomplete: 'new-password',
  error: errors.map((e) => e.message).join(' ') || undefined,
  autofocus: errors.length === 0,
  spellcheck: false,
})}
<div class="actions">${button(t('reset.submit'))}</div>`,
  { novalidate: true },
)}`,
  };
}

/** After the change: back to signing in (never signed in by the reset). */
export function resetDonePage(tr: Translator, m: { signInHref?: string }): PageContent {
  return donePage(tr, 'reset.done_title', 'reset.done_body', m.signInHref);
}

/** A finished emailed-link action: what happened, and the way back to signing in when there is one. */
function donePage(tr: Translator, title: MessageKey, body: MessageKey, signInHref: string | undefined): PageContent {
  const { t } = tr;
  return {
    title: t(title),
    body: html`<h1>${t(title)}</h1>
<p class="lead">${t(body)}</p>
${signInHref ? html`<p><a href="${signInHref}">${t('reset.sign_in')}</a></p>` : ''}`,
  };
}

/** Self sign-up: email and a new password (only where the deployment and tenant allow it). */
export function signUpPage(m: StepPageModel & { email?: string; backHref: string }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t('signup.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('signup.title')}</h1>
<p class="lead">${t('common.continue_to', { client: m.clientName })}</p>
${postForm(
  m.action,
  m.csrf,
  html`${emailField({
    label: t('identifier.email_label'),
    value: m.email,
    error: errors.find((e) => e.field === 'email')?.message,
    autofocus: errors.length === 0,
  })}
${textField({
  id: 'password',
  name: 'password',
  type: 'password',
  label: t('signup.password'),
  hint: t('reset.new_password_hint'),
  autocomplete: 'new-password',
  error:
    errors
      .filter((e) => e.field === 'password')
      .map((e) => e.message)
      .join(' ') || undefined,
  spellcheck: false,
})}
<div class="actions">${button(t('signup.submit'))}</div>`,
  { novalidate: true },
)}
<p><a href="${m.backHref}">${t('magic_link.back')}</a></p>
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}

/** After a sign-up request: the same page whether or not the address already had an account. */
export const signUpSentPage = (m: StepPageModel & { email: string; backHref: string }): PageContent =>
  emailSentPage(m, { title: 'signup.sent_title', body: 'signup.sent_body' });

/** Behind the emailed verification link (GET): a button; only the POST redeems the link. */
export function verifyConfirmPage(tr: Translator, m: { action: string; csrf: string; token: string; email: string }): PageContent {
  const { t } = tr;
  return {
    title: t('verify.title'),
    body: html`<h1>${t('verify.title')}</h1>
<p class="lead">${t('verify.body', { email: m.email })}</p>
${postForm(
  m.action,
  m.csrf,
  html`<input type="hidden" name="token" value="${m.token}">
<div class="actions">${button(t('verify.submit'))}</div>`,
)}`,
  };
}

export function verifyDonePage(tr: Translator, m: { signInHref?: string }): PageContent {
  return donePage(tr, 'verify.done_title', 'verify.done_body', m.signInHref);
}
