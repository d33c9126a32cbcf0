import { postForm } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { MessageKey } from '../i18n.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, formatDate } from './account-common.ts';

export interface AppRow {
  clientId: string;
  name: string;
  scopes: readonly string[];
  resources: Readonly<Record<string, readonly string[]>>;
  since: Date;
  offline: boolean;
}

const SCOPE_TEXT: Readonly<Record<string, MessageKey>> = {
  openid: 'scope.openid',
  profile: 'scope.profile',
  email: 'scope.email',
  offline_access: 'scope.offline_access',
};

function appItem(m: AccountPageModel, a: AppRow): SafeHtml {
  const { t } = m.tr;
  const describe = (s: string) => (SCOPE_TEXT[s] ? t(SCOPE_TEXT[s]) : t('scope.other', { scope: s }));
  const api = Object.values(a.resources).flat();
  return html`<li class="item">
<h3>${a.name}</h3>
<p class="muted">${t('account.apps.since', { date: formatDate(m.tr, a.since) })}${a.offline ? html` · ${t('account.apps.offline')}` : ''}</p>
<p>${t('account.apps.can')}</p>
<ul class="scopes">${[...a.scopes, ...api].map((s) => html`<li>${describe(s)}</li>`)}</ul>
${postForm(
  `${m.base}/apps/${encodeURIComponent(a.clientId)}/revoke`,
  m.csrf,
  html`<button type="submit" class="button--secondary">${t('account.apps.revoke')}<span class="visually-hidden"> ${a.name}</span></button>`,
)}
</li>`;
}

/** `/account/apps`: the applications holding a grant of this user, each revocable. */
export function accountAppsPage(m: AccountPageModel & { apps: readonly AppRow[] }): PageContent {
  const { t } = m.tr;
  return accountPage(m, {
    section: 'apps',
    title: t('account.apps.title'),
    body: html`<p class="lead">${t('account.apps.lead')}</p>
${m.apps.length ? html`<ul class="items">${m.apps.map((a) => appItem(m, a))}</ul>` : html`<p>${t('account.apps.none')}</p>`}`,
  });
}
