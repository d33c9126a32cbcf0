import { actionForm } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { MessageKey } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, formatDate } from './account-common.ts';

export interface SessionRow {
  uid: string;
  current: boolean;
  signedInAt: Date | null;
  amr: readonly string[];
  apps: readonly string[];
  device: { ip: string | null; userAgent: string | null } | null;
  lastSeenAt: Date | null;
}

const AMR_TEXT: Readonly<Record<string, MessageKey>> = {
  pwd: 'account.amr.pwd',
  otp: 'account.amr.otp',
  hwk: 'account.amr.hwk',
  swk: 'account.amr.swk',
  email: 'account.amr.email',
};

/** How the session signed in, for people: "password, authenticator app" (RFC 8176 values we know). */
export function methodsText(m: AccountPageModel, amr: readonly string[]): string {
  const known = [...new Set(amr.flatMap((v) => (AMR_TEXT[v] ? [m.tr.t(AMR_TEXT[v])] : [])))];
  return known.length ? known.join(', ') : m.tr.t('account.not_set');
}

function sessionItem(m: AccountPageModel, s: SessionRow): SafeHtml {
  const { t } = m.tr;
  const device = s.device?.userAgent ? [s.device.userAgent, s.device.ip].filter(Boolean).join(' · ') : t('account.sessions.unknown_device');
  return html`<li class="item"${s.current ? html` aria-current="true"` : ''}>
<h3>${s.current ? t('account.sessions.this') : t('account.sessions.other')}</h3>
<p>${t('account.sessions.signed_in', { date: formatDate(m.tr, s.signedInAt), methods: methodsText(m, s.amr) })}</p>
<p class="muted">${t('account.sessions.device', { device })}${s.lastSeenAt ? html` · ${t('account.sessions.last_seen', { date: formatDate(m.tr, s.lastSeenAt) })}` : ''}</p>
${s.apps.length ? html`<p class="muted">${t('account.sessions.apps', { apps: s.apps.join(', ') })}</p>` : ''}
${s.current ? '' : actionForm(`${m.base}/sessions/${s.uid}/revoke`, m.csrf, t('account.sessions.revoke'), 'secondary')}
</li>`;
}

/** `/account/sessions`: the browsers signed in, with "sign out" per session and everywhere. */
export function accountSessionsPage(m: AccountPageModel & { sessions: readonly SessionRow[] }): PageContent {
  const { t } = m.tr;
  return accountPage(m, {
    section: 'sessions',
    title: t('account.sessions.title'),
    body: html`<p class="lead">${t('account.sessions.lead')}</p>
<ul class="items">${m.sessions.map((s) => sessionItem(m, s))}</ul>
<section aria-labelledby="everywhere-heading">
<h2 id="everywhere-heading">${t('account.sessions.everywhere')}</h2>
<p>${t('account.sessions.everywhere_hint')}</p>
<div class="actions">${actionForm(`${m.base}/sessions/sign-out-everywhere`, m.csrf, t('account.sessions.everywhere'), 'secondary')}</div>
</section>`,
  });
}
