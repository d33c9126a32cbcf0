import { actionForm } from '../components.ts';
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import type { StepPageModel } from './common.ts';

/** The client's tenant allows none of the sign-in methods this server offers yet. */
export function noMethodPage(m: StepPageModel): PageContent {
  const { t } = m.tr;
  return {
    title: t('no_method.title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('no_method.title')}</h1>
<p>${t('no_method.body', { client: m.clientName })}</p>
<div class="actions">${actionForm(m.abortAction, m.csrf, t('unmet.return'), 'primary')}</div>`,
  };
}
