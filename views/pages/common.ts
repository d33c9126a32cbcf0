import { actionForm, type FieldError } from '../components.ts';
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
