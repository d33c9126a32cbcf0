import { button, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { emailSentPage, type StepPageModel } from './common.ts';

/** "Check your email" after a magic-link request (same page for every address). */
export const magicLinkSentPage = (m: StepPageModel & { email: string; backHref: string }): PageContent =>
  emailSentPage(m, { title: 'magic_link.sent_title', body: 'magic_link.sent_body', hint: 'magic_link.sent_hint' });

/**
 * Behind the emailed link (GET): a button, never an automatic sign-in — mail scanners follow
 * links, and only this page's POST redeems the token.
 */
export function magicLinkConfirmPage(
  tr: Translator,
  m: { action: string; csrf: string; token: string; email: string; formTargets: readonly string[] },
): PageContent {
  const { t } = tr;
  return {
    title: t('magic_link.confirm_title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('magic_link.confirm_title')}</h1>
<p class="lead">${t('magic_link.confirm_body', { email: m.email })}</p>
${postForm(
  m.action,
  m.csrf,
  html`<input type="hidden" name="token" value="${m.token}">
<div class="actions">${button(t('magic_link.confirm_submit'))}</div>`,
)}`,
  };
}
