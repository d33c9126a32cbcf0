import { actionForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import type { StepPageModel } from './common.ts';

/**
 * The request (or the tenant) needs a factor the account does not have: nothing to ask for, so
 * the only way on is back to the client (`unmet_authentication_requirements`).
 */
export function unmetPage(m: StepPageModel & { level: 'mfa' | 'phr' }): PageContent {
  const { t } = m.tr;
  return {
    title: t('unmet.title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('unmet.title')}</h1>
<p>${t(m.level === 'phr' ? 'unmet.body_phr' : 'unmet.body_mfa', { client: m.clientName })}</p>
<div class="actions">${actionForm(m.abortAction, m.csrf, t('unmet.return'), 'primary')}</div>`,
  };
}
