import { button, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { MessageKey } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import type { StepPageModel } from './common.ts';

const KNOWN_SCOPES: Readonly<Record<string, MessageKey>> = {
  openid: 'scope.openid',
  profile: 'scope.profile',
  email: 'scope.email',
  offline_access: 'scope.offline_access',
};

export interface ConsentModel extends StepPageModel {
  email?: string;
  /** OpenID Connect scopes not granted yet. */
  scopes: readonly string[];
  /** Resource indicator → API scopes not granted yet. */
  resources: Readonly<Record<string, readonly string[]>>;
}

/** Third-party clients: what the client asks for, with Allow and Deny. */
export function consentPage(m: ConsentModel): PageContent {
  const { t } = m.tr;
  const describe = (scope: string) => (KNOWN_SCOPES[scope] ? t(KNOWN_SCOPES[scope]) : t('scope.other', { scope }));
  const title = t('consent.title', { client: m.clientName });
  const resources = Object.entries(m.resources).filter(([, scopes]) => scopes.length > 0);
  return {
    title,
    formTargets: m.formTargets,
    body: html`<h1>${title}</h1>
${m.email ? html`<p class="identity">${t('consent.account', { email: m.email })}</p>` : ''}
<p>${t('consent.lead', { client: m.clientName })}</p>
${m.scopes.length ? html`<ul class="scopes">${m.scopes.map((s) => html`<li>${describe(s)}</li>`)}</ul>` : ''}
${resources.map(
  ([resource, scopes]) => html`<h2>${t('consent.resource', { resource })}</h2>
<ul class="scopes">${scopes.map((s) => html`<li>${describe(s)}</li>`)}</ul>`,
)}
<p class="muted">${t('consent.note', { client: m.clientName })}</p>
${postForm(
  m.action,
  m.csrf,
  html`<div class="actions">${button(t('consent.allow'), { name: 'decision', value: 'allow' })}
${button(t('consent.deny'), { variant: 'secondary', name: 'decision', value: 'deny' })}</div>`,
)}`,
  };
}
