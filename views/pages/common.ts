import { actionForm, type FieldError } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { Translator } from '../i18n.ts';

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
