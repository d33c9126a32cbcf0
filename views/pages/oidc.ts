import { button } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';

/** The engine's error page (`renderError`): the OAuth error code, never a redirect. */
export function oidcErrorPage(tr: Translator, error: string, description?: string): PageContent {
  const { t } = tr;
  return {
    title: t('oidc_error.title'),
    body: html`<h1>${t('oidc_error.title')}</h1>
<p>${t('oidc_error.body')}</p>
<p class="muted">${t('oidc_error.code')} <code>${error}</code>${description ? html` — ${description}` : ''}</p>`,
  };
}

/**
 * RP-initiated logout confirmation. `engineForm` is the engine's own (empty) form carrying its
 * logout CSRF token; the buttons submit it: "Sign out" ends the session on this device, "Sign
 * out of <client> only" ends just that client's part of it.
 */
export function logoutPage(tr: Translator, m: { engineForm: SafeHtml; clientName?: string; formTargets: readonly string[] }): PageContent {
  const { t } = tr;
  return {
    title: t('logout.title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('logout.title')}</h1>
${m.engineForm}
<p>${t('logout.body')}</p>
${m.clientName ? html`<p>${t('logout.requested_by', { client: m.clientName })}</p>` : ''}
<div class="actions">
${formButton(t('logout.confirm'), 'primary', true)}
${m.clientName ? formButton(t('logout.client_only', { client: m.clientName }), 'secondary', false) : ''}
</div>`,
  };
}

const formButton = (label: string, variant: 'primary' | 'secondary', logout: boolean): SafeHtml =>
  // Submits the engine's form (id="op.logoutForm") from outside it.
  button(label, { variant, form: 'op.logoutForm', ...(logout ? { name: 'logout', value: 'yes' } : {}) });

export function loggedOutPage(tr: Translator, clientName?: string): PageContent {
  const { t } = tr;
  if (clientName) {
    const title = t('logged_out.client_title', { client: clientName });
    return { title, body: html`<h1>${title}</h1><p>${t('logged_out.client_body')}</p>` };
  }
  return { title: t('logged_out.title'), body: html`<h1>${t('logged_out.title')}</h1><p>${t('logged_out.body')}</p>` };
}
