import type { Asset } from '../assets.ts';
import { actionForm, errorSummary, type FieldError } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import type { MessageKey, Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';

/** The sections of the account pages, in navigation order. */
export const ACCOUNT_SECTIONS = ['overview', 'profile', 'email', 'password', 'two-step', 'passkeys', 'sessions', 'apps'] as const;
export type AccountSection = (typeof ACCOUNT_SECTIONS)[number];

const NAV_LABELS: Record<AccountSection, MessageKey> = {
  overview: 'account.nav.overview',
  profile: 'account.nav.profile',
  email: 'account.nav.email',
  password: 'account.nav.password',
  'two-step': 'account.nav.two_step',
  passkeys: 'account.nav.passkeys',
  sessions: 'account.nav.sessions',
  apps: 'account.nav.apps',
};

/** What every account page gets: translator, the session's CSRF token, where the pages live, who is signed in. */
export interface AccountPageModel {
  tr: Translator;
  csrf: string;
  /** `<issuer path>/account`. */
  base: string;
  email: string | null;
  /** A one-line confirmation of the last change (post/redirect/get), already translated. */
  notice?: string;
  errors?: readonly FieldError[];
}

/** `base` + section path (`overview` is the base itself). */
export const sectionHref = (base: string, section: AccountSection): string => (section === 'overview' ? base : `${base}/${section}`);

/** A date for people: medium date and short time, in UTC (the pages know no time zone). */
export function formatDate(tr: Translator, date: Date | null | undefined): string {
  if (!date) return tr.t('account.not_set');
  const text = new Intl.DateTimeFormat(tr.locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date);
  return tr.t('account.date', { date: text });
}

function nav(m: AccountPageModel, current: AccountSection): SafeHtml {
  return html`<nav class="account-nav" aria-label="${m.tr.t('account.nav_label')}">
<ul>${ACCOUNT_SECTIONS.map(
    (s) =>
      html`<li><a href="${sectionHref(m.base, s)}"${s === current ? html` aria-current="page"` : ''}>${m.tr.t(NAV_LABELS[s])}</a></li>`,
  )}</ul>
</nav>`;
}

/**
 * The frame of every account page: error summary, title, who is signed in, the confirmation of
 * the last change, the content, then the section navigation and "Sign out".
 */
export function accountPage(
  m: AccountPageModel,
  o: { section: AccountSection; title: string; body: SafeHtml | readonly SafeHtml[]; scripts?: readonly Asset[] },
): PageContent {
  const { t } = m.tr;
  const errors = m.errors ?? [];
  return {
    title: o.title,
    hasErrors: errors.length > 0,
    ...(o.scripts ? { scripts: o.scripts } : {}),
    body: html`<div class="account-page">
${errorSummary(t('common.error_summary_title'), errors)}
<h1>${o.title}</h1>
${m.email ? html`<p class="identity">${t('account.signed_in_as', { email: m.email })}</p>` : ''}
${m.notice ? html`<div class="notice" role="status"><p>${m.notice}</p></div>` : ''}
${o.body}
${nav(m, o.section)}
<div class="secondary-actions">${actionForm(`${m.base}/sign-out`, m.csrf, t('account.sign_out'))}</div>
</div>`,
  };
}

/** Shown instead of a sensitive form while the sign-in is too old: the way to a fresh one. */
export function reauthPrompt(m: AccountPageModel, href: string): SafeHtml {
  return html`<div class="reauth">
<p>${m.tr.t('account.recent_needed')}</p>
<p><a class="button-link" href="${href}">${m.tr.t('account.reauth')}</a></p>
</div>`;
}

/** A page outside the signed-in frame (signed out, link landings, failures): title, text, optional link. */
export function accountMessagePage(o: { title: string; body: string; link?: { href: string; label: string } }): PageContent {
  return {
    title: o.title,
    body: html`<h1>${o.title}</h1>
<p>${o.body}</p>
${o.link ? html`<p><a href="${o.link.href}">${o.link.label}</a></p>` : ''}`,
  };
}

/**
 * An optional labelled text input (the shared `textField` is for required ones), wired like it:
 * hint and inline error through aria-describedby, aria-invalid on error.
 */
export function optionalTextField(o: {
  id: string;
  name: string;
  label: string;
  value?: string;
  hint?: string;
  error?: string;
  autocomplete?: string;
  maxlength?: number;
}): SafeHtml {
  const described = [o.hint ? `${o.id}-hint` : '', o.error ? `${o.id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field${o.error ? ' field--error' : ''}">
<label for="${o.id}">${o.label}</label>
${o.hint ? html`<span class="hint" id="${o.id}-hint">${o.hint}</span>` : ''}
${o.error ? html`<span class="field-error" id="${o.id}-error">${o.error}</span>` : ''}
<input id="${o.id}" name="${o.name}" type="text" value="${o.value ?? ''}"${o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''}${o.maxlength ? html` maxlength="${o.maxlength}"` : ''}${described ? html` aria-describedby="${described}"` : ''}${o.error ? html` aria-invalid="true"` : ''}>
</div>`;
}

/** The error of one field, for the inline message. */
export const fieldError = (errors: readonly FieldError[] | undefined, field: string): string | undefined =>
  errors?.find((e) => e.field === field)?.message;
