import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { codeEntryPage, type StepPageModel } from './common.ts';

/** Second factor: the code of the user's authenticator app, with the ways out to a passkey or a recovery code. */
export function totpPage(m: StepPageModel & { email?: string; recoveryHref: string; passkeyHref?: string }): PageContent {
  const { t } = m.tr;
  return codeEntryPage(m, {
    keys: { title: 'totp.title', lead: 'totp.lead', label: 'totp.label', hint: 'totp.hint', submit: 'totp.submit' },
    field: { autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 12 },
    alternatives: html`${m.passkeyHref ? html`<p><a href="${m.passkeyHref}">${t('totp.use_passkey')}</a></p>` : ''}
<p><a href="${m.recoveryHref}">${t('totp.use_recovery')}</a></p>`,
  });
}
