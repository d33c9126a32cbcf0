import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { codeEntryPage, type StepPageModel } from './common.ts';

/** Second factor fallback: one of the user's single-use recovery codes. */
export function recoveryCodePage(m: StepPageModel & { email?: string; totpHref: string }): PageContent {
  const { t } = m.tr;
  return codeEntryPage(m, {
    keys: { title: 'recovery.title', lead: 'recovery.lead', label: 'recovery.label', hint: 'recovery.hint', submit: 'recovery.submit' },
    field: { autocomplete: 'off', maxlength: 32 },
    alternatives: html`<p><a href="${m.totpHref}">${t('recovery.use_totp')}</a></p>`,
  });
}
