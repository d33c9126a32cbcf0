import { actionForm, button, errorSummary, type FieldError, postForm, type TextFieldOptions, textField } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { MessageKey, Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';

/** What every sign-in step page gets: the translator, the interaction's CSRF token and where its forms go. */
export interface StepPageModel {
  tr: Translator;
  csrf: string;
  /** The client's display name (as registered). */
  clientName: string;
  /** This step's form action. */
  action: string;
  /** Cancels the sign-in (the client receives `access_denied`). */
  abortAction: string;
  /** Origins the sign-in may finish at (the client's redirect URI): CSP form-action. */
  formTargets: readonly string[];
  errors?: readonly FieldError[];
}

/** "Cancel and return to the application" (a POST: it ends the interaction). */
export function cancelAction(m: StepPageModel): SafeHtml {
  return actionForm(m.abortAction, m.csrf, m.tr.t('common.cancel'));
}

export function identity(m: StepPageModel, email: string | undefined): SafeHtml {
  return email ? html`<p class="identity">${m.tr.t('common.signing_in_as', { email })}</p>` : html``;
}

/**
 * "Check your email": the one answer to every emailed-link request (sign-in link, reset, sign-up),
 * known address or not, so the page reveals nothing about the address typed.
 */
export function emailSentPage(
  m: StepPageModel & { email: string; backHref: string },
  keys: { title: MessageKey; body: MessageKey; hint?: MessageKey },
): PageContent {
  const { t } = m.tr;
  return {
    title: t(keys.title),
    formTargets: m.formTargets,
    body: html`<h1>${t(keys.title)}</h1>
<p class="lead">${t(keys.body, { email: m.email })}</p>
${keys.hint ? html`<p>${t(keys.hint)}</p>` : ''}
<p><a href="${m.backHref}">${t('magic_link.back')}</a></p>
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}

/** A second-factor page asking for one code (authenticator app, recovery code), with its ways out. */
export function codeEntryPage(
  m: StepPageModel & { email?: string },
  o: {
    keys: { title: MessageKey; lead: MessageKey; label: MessageKey; hint: MessageKey; submit: MessageKey };
    field: Pick<TextFieldOptions, 'autocomplete' | 'inputmode' | 'maxlength'>;
    /** Links to the other factors, shown above "cancel". */
    alternatives: SafeHtml;
  },
): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t(o.keys.title),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t(o.keys.title)}</h1>
${identity(m, m.email)}
<p>${t(o.keys.lead)}</p>
${postForm(
  m.action,
  m.csrf,
  html`${textField({
    id: 'code',
    name: 'code',
    label: t(o.keys.label),
    hint: t(o.keys.hint),
    ...o.field,
    error: errors.find((e) => e.field === 'code')?.message,
    autofocus: errors.length === 0,
    spellcheck: false,
  })}
<div class="actions">${button(t(o.keys.submit))}</div>`,
  { novalidate: true },
)}
<div class="secondary-actions">
${o.alternatives}
${cancelAction(m)}
</div>`,
  };
}
