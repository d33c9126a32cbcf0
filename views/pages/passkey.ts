import { PASSKEY_SCRIPTS } from '../assets.ts';
import { errorSummary } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, identity, type StepPageModel } from './common.ts';

/** Where the passkey script fetches its options and posts the result (ADR-0014 markup contract). */
export interface PasskeyEndpoints {
  optionsUrl: string;
  finishUrl: string;
  csrf: string;
}

/** `data-*` attributes for the passkey script (conditional UI on the email input). */
export const passkeyAutofillData = (p: PasskeyEndpoints): Record<string, string> => ({
  passkey: 'autofill',
  'options-url': p.optionsUrl,
  'finish-url': p.finishUrl,
  csrf: p.csrf,
});

/**
 * A button that runs the passkey ceremony. Hidden until the script finds WebAuthn; a failure
 * shows the page's own (translated) message in the alert next to it.
 */
export function passkeyButton(tr: Translator, p: PasskeyEndpoints, label: string, variant: 'primary' | 'secondary'): SafeHtml {
  // The wrapper carries `hidden` (the error class sets its own display).
  return html`<div id="passkey-error" role="alert" tabindex="-1" hidden><p class="field-error">${tr.t('passkey.error_browser')}</p></div>
<div class="actions"><button type="button" class="button--${variant}" hidden data-passkey="authenticate" data-options-url="${p.optionsUrl}" data-finish-url="${p.finishUrl}" data-csrf="${p.csrf}" data-error="passkey-error">${label}</button></div>`;
}

/** Second factor: the user's passkey (or security key), with the way out to their other factors. */
export function passkeyPage(m: StepPageModel & { email?: string; passkey: PasskeyEndpoints; totpHref?: string }): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: t('passkey.title'),
    hasErrors: errors.length > 0,
    formTargets: m.formTargets,
    scripts: PASSKEY_SCRIPTS,
    body: html`${errorSummary(t('common.error_summary_title'), errors)}
<h1>${t('passkey.title')}</h1>
${identity(m, m.email)}
<p>${t('passkey.lead')}</p>
<noscript><p>${t('passkey.noscript')}</p></noscript>
${passkeyButton(m.tr, m.passkey, t('passkey.submit'), 'primary')}
<div class="secondary-actions">
${m.totpHref ? html`<p><a href="${m.totpHref}">${t('passkey.use_totp')}</a></p>` : ''}
${cancelAction(m)}
</div>`,
  };
}
