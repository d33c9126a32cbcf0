import { button, postForm } from '../components.ts';
import { html } from '../html.ts';
import type { Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';

/** The form that starts accepting: it signs the person in (or up) first. */
function acceptForm(m: { action: string; csrf: string; token: string; again?: boolean }, label: string) {
  return postForm(
    m.action,
    m.csrf,
    html`<input type="hidden" name="token" value="${m.token}">
${m.again ? html`<input type="hidden" name="again" value="1">` : ''}
<div class="actions">${button(label)}</div>`,
  );
}

/** The landing of an emailed invitation: who invites whom to which tenant; nothing is consumed. */
export function invitationPage(
  tr: Translator,
  m: { tenant: string; inviter: string | null; email: string; action: string; csrf: string; token: string },
): PageContent {
  const { t } = tr;
  const title = t('invitation.title', { tenant: m.tenant });
  return {
    title,
    body: html`<h1>${title}</h1>
<p class="lead">${m.inviter ? t('invitation.lead_inviter', { inviter: m.inviter, tenant: m.tenant }) : t('invitation.lead', { tenant: m.tenant })}</p>
<p>${t('invitation.sent_to', { email: m.email })}</p>
${acceptForm(m, t('invitation.accept'))}`,
  };
}

/** An outcome of accepting (joined, refused, not valid), with a way on where there is one. */
export function invitationOutcomePage(m: {
  title: string;
  body: string;
  /** Sign in again (as the invited address) and accept. */
  retry?: { action: string; csrf: string; token: string; label: string };
  back?: { href: string; label: string };
}): PageContent {
  return {
    title: m.title,
    body: html`<h1>${m.title}</h1>
<p>${m.body}</p>
${m.retry ? acceptForm({ ...m.retry, again: true }, m.retry.label) : ''}
${m.back ? html`<p><a href="${m.back.href}">${m.back.label}</a></p>` : ''}`,
  };
}
