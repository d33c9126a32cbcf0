import { actionForm, button, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, type StepPageModel } from './common.ts';

/**
 * Account selection (`prompt=select_account`, or a `login_hint` naming another account than the
 * signed-in one): continue as the signed-in account, or sign in with another.
 */
export function selectAccountPage(m: StepPageModel & { email: string; hint?: string; switchAction: string }): PageContent {
  const { t } = m.tr;
  return {
    title: t('select_account.title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('select_account.title')}</h1>
<p class="lead">${t('common.continue_to', { client: m.clientName })}</p>
<p class="identity">${t('select_account.signed_in_as', { email: m.email })}</p>
${m.hint ? html`<p>${t('select_account.hint', { client: m.clientName, hint: m.hint })}</p>` : ''}
${postForm(m.action, m.csrf, html`<div class="actions">${button(t('select_account.continue', { email: m.email }), { name: 'decision', value: 'continue' })}</div>`)}
<div class="secondary-actions">
${actionForm(m.switchAction, m.csrf, t('select_account.other'), 'secondary')}
${cancelAction(m)}
</div>`,
  };
}
