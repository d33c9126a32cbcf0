import { button, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { cancelAction, type StepPageModel } from './common.ts';

/**
 * "Check your email": the one answer to every magic-link request — known account or not,
 * throttled or not — so the page reveals nothing about the address typed.
 */
export function magicLinkSentPage(m: StepPageModel & { email: string; backHref: string }): PageContent {
  const { t } = m.tr;
  return {
    title: t('magic_link.sent_title'),
    formTargets: m.formTargets,
    body: html`<h1>${t('magic_link.sent_title')}</h1>
<p class="lead">${t('magic_link.sent_body', { email: m.email })}</p>
<p>${t('magic_link.sent_hint')}</p>
<p><a href="${m.backHref}">${t('magic_link.back')}</a></p>
<div class="secondary-actions">${cancelAction(m)}</div>`,
  };
}

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
