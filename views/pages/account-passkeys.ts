import { PASSKEY_SCRIPTS } from '../assets.ts';
import { button, postForm } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { PageContent } from '../layout.ts';
import { type AccountPageModel, accountPage, fieldError, formatDate, optionalTextField, reauthPrompt } from './account-common.ts';

export interface PasskeyRow {
  id: string;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  backupEligible: boolean;
}

export interface PasskeysModel extends AccountPageModel {
  passkeys: readonly PasskeyRow[];
  /** Passkeys work on this issuer (ADR-0014); else nothing can be added. */
  available: boolean;
  /** Recent enough to add or remove one (else: the way to a fresh sign-in). */
  recent: boolean;
  reauthHref: string;
}

function passkeyItem(m: PasskeysModel, p: PasskeyRow): SafeHtml {
  const { t } = m.tr;
  const name = p.name ?? t('account.passkeys.unnamed');
  const fieldId = `name-${p.id}`;
  return html`<li class="item">
<h3>${name}</h3>
<p class="muted">${p.backupEligible ? t('account.passkeys.synced') : t('account.passkeys.device_bound')} · ${t('account.passkeys.added', { date: formatDate(m.tr, p.createdAt) })} · ${
    p.lastUsedAt ? t('account.passkeys.last_used', { date: formatDate(m.tr, p.lastUsedAt) }) : t('account.passkeys.never_used')
  }</p>
${postForm(
  `${m.base}/passkeys/${p.id}/rename`,
  m.csrf,
  html`${optionalTextField({
    id: fieldId,
    name: 'name',
    label: t('account.passkeys.rename_label', { name }),
    value: p.name ?? '',
    maxlength: 64,
    error: fieldError(m.errors, fieldId),
  })}
<div class="actions">${button(t('account.passkeys.rename'), { variant: 'secondary' })}</div>`,
  { novalidate: true },
)}
${postForm(
  `${m.base}/passkeys/${p.id}/remove`,
  m.csrf,
  html`<button type="submit" class="button--secondary">${t('account.passkeys.remove')}<span class="visually-hidden"> ${name}</span></button>`,
)}
</li>`;
}

function addPasskey(m: PasskeysModel): SafeHtml {
  const { t } = m.tr;
  if (!m.available) return html`<p class="muted">${t('account.passkeys.unavailable')}</p>`;
  if (!m.recent) return reauthPrompt(m, m.reauthHref);
  return html`${optionalTextField({
    id: 'passkey-name',
    name: 'name',
    label: t('account.passkeys.new_name'),
    hint: t('account.passkeys.new_name_hint'),
    maxlength: 64,
    error: fieldError(m.errors, 'passkey-name'),
  })}
<noscript><p>${t('account.passkeys.noscript')}</p></noscript>
<div id="passkey-error" role="alert" tabindex="-1" hidden><p class="field-error">${t('account.passkeys.error_browser')}</p></div>
<div class="actions"><button type="button" class="button--primary" hidden data-passkey="register" data-options-url="${m.base}/passkeys/options" data-finish-url="${m.base}/passkeys/register" data-csrf="${m.csrf}" data-name-input="passkey-name" data-error="passkey-error">${t('account.passkeys.add')}</button></div>`;
}

/** `/account/passkeys`: list, rename, remove, add (the one account page with script: WebAuthn needs it). */
export function accountPasskeysPage(m: PasskeysModel): PageContent {
  const { t } = m.tr;
  return accountPage(m, {
    section: 'passkeys',
    title: t('account.passkeys.title'),
    ...(m.available && m.recent ? { scripts: PASSKEY_SCRIPTS } : {}),
    body: html`<p class="lead">${t('account.passkeys.lead')}</p>
${m.passkeys.length ? html`<ul class="items">${m.passkeys.map((p) => passkeyItem(m, p))}</ul>` : html`<p>${t('account.passkeys.none')}</p>`}
<section aria-labelledby="add-heading">
<h2 id="add-heading">${t('account.passkeys.add_heading')}</h2>
${addPasskey(m)}
</section>`,
  });
}
