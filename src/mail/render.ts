import { catalogueFor, type MailCatalogue, type MailKind } from './templates/index.ts';
import { type MailBody, renderHtml, renderText } from './templates/layout.ts';

/**
 * Renders a transactional mail (ADR-0013). Links are built from the configured issuer URL and a
 * fixed path per kind — never from a request's Host or X-Forwarded-Host (reset-link poisoning) and
 * never from a caller-supplied URL. User-controlled values (display names, tenant and inviter
 * names) are stripped of control and bidi-override characters, shortened, and HTML-escaped.
 */

/** Where each link lands, relative to the issuer URL; the interaction routes mount these paths. */
export const MAIL_LINK_PATHS: Readonly<Record<MailKind, string>> = {
  email_verification: '/email/verify',
  password_reset: '/password/reset',
  magic_link: '/login/magic-link',
  email_change: '/email/change/confirm',
  invitation: '/invitations/accept',
};

interface LinkParams {
  /** The raw token for the link (base64url), as returned by issueToken / the invitation service. */
  token: string;
  /** Lifetime to state in the mail. */
  expiresInMinutes: number;
  /** Recipient's name when known (untrusted: escaped and shortened). */
  displayName?: string | null;
}

export interface MailParams {
  email_verification: LinkParams;
  password_reset: LinkParams;
  magic_link: LinkParams;
  email_change: LinkParams;
  invitation: LinkParams & { tenantName: string; inviterName?: string | null };
}

export interface RenderOptions {
  /** The configured issuer URL (config `issuer`), the only source of link origins. */
  issuer: string;
  productName: string;
  /** Recipient's locale; falls back to English. */
  locale?: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{16,512}$/;
// C0/C1 controls, zero-width and bidi controls: nothing a name legitimately needs, and the
// ingredients of header injection and of visually reordered phishing text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** An untrusted display value made safe to show: one line, no controls, at most `max` characters. */
export function sanitizeDisplayValue(value: string, max = 80): string {
  const clean = value.replace(UNSAFE_CHARS, ' ').replace(/\s+/g, ' ').trim();
  const chars = [...clean];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : clean;
}

/** `issuer` + fixed path + `?token=`; the issuer must be an absolute http(s) URL without query. */
export function buildMailLink(issuer: string, kind: MailKind, token: string): string {
  let base: URL;
  try {
    base = new URL(issuer);
  } catch {
    throw new TypeError('issuer must be an absolute URL');
  }
  if ((base.protocol !== 'https:' && base.protocol !== 'http:') || base.username || base.password || base.search || base.hash) {
    throw new TypeError('issuer must be an http(s) URL without credentials, query or fragment');
  }
  if (!TOKEN_FORMAT.test(token)) throw new TypeError('token must be base64url');
  const url = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${MAIL_LINK_PATHS[kind]}`);
  url.searchParams.set('token', token);
  return url.href;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, key: string) => values[key] ?? m);
}

function duration(c: MailCatalogue, minutes: number): string {
  const d = c.duration;
  const n = (count: number, one: string, other: string) => (count === 1 ? one : fill(other, { count: String(count) }));
  if (minutes >= 1440 && minutes % 1440 === 0) return n(minutes / 1440, d.daysOne, d.daysOther);
  if (minutes >= 60 && minutes % 60 === 0) return n(minutes / 60, d.hoursOne, d.hoursOther);
  return n(minutes, d.minutesOne, d.minutesOther);
}

/** Subject, plain text and HTML of one mail. */
export function renderMail<K extends MailKind>(kind: K, params: MailParams[K], opts: RenderOptions): RenderedMail {
  const c = catalogueFor(opts.locale);
  const m = c.kinds[kind];
  if (!m) throw new TypeError(`unknown mail kind ${String(kind)}`);
  if (!Number.isInteger(params.expiresInMinutes) || params.expiresInMinutes < 1)
    throw new RangeError('expiresInMinutes must be a positive integer');
  const link = buildMailLink(opts.issuer, kind, params.token);

  const product = sanitizeDisplayValue(opts.productName, 60);
  const name = params.displayName ? sanitizeDisplayValue(params.displayName) : '';
  const invitation = kind === 'invitation' ? (params as MailParams['invitation']) : undefined;
  const values: Record<string, string> = {
    product,
    issuer: opts.issuer.replace(/\/+$/, ''),
    name,
    tenant: invitation ? sanitizeDisplayValue(invitation.tenantName) : '',
    inviter: invitation?.inviterName ? sanitizeDisplayValue(invitation.inviterName) : '',
    duration: duration(c, params.expiresInMinutes),
  };
  const intro = invitation && !values.inviter && m.introWithoutInviter ? m.introWithoutInviter : m.intro;
  const body: MailBody = {
    lang: c.lang,
    subject: fill(m.subject, values),
    preheader: fill(m.preheader, values),
    greeting: name ? fill(c.greeting, values) : c.greetingWithoutName,
    paragraphs: [fill(intro, values)],
    action: { label: fill(m.action, values), url: link },
    linkFallback: c.linkFallback,
    afterAction: [fill(m.expiry, values), ...(m.note ? [fill(m.note, values)] : []), fill(m.notYou, values)],
    footer: fill(c.footer, values),
  };
  // A subject is a header: sanitizeDisplayValue already removed CR/LF from every value in it.
  return { subject: body.subject, text: renderText(body), html: renderHtml(body) };
}
