import { type RenderedMail, type RenderOptions, sanitizeDisplayValue } from './render.ts';
import { catalogueFor } from './templates/index.ts';
import { type MailBody, renderHtml, renderText } from './templates/layout.ts';
import { type NoticeCatalogue, type NoticeKind, noticesEn } from './templates/notices.en.ts';

export { NOTICE_KINDS, type NoticeKind } from './templates/notices.en.ts';

/** Notice catalogues by language; English when the locale has none. */
const NOTICE_CATALOGUES: Readonly<Record<string, NoticeCatalogue>> = { en: noticesEn };

/** Where every notice points: the account pages, under the configured issuer (never a request's Host). */
export function accountPagesUrl(issuer: string): string {
  const base = new URL(issuer);
  if ((base.protocol !== 'https:' && base.protocol !== 'http:') || base.username || base.password || base.search || base.hash) {
    throw new TypeError('issuer must be an http(s) URL without credentials, query or fragment');
  }
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}/account`;
}

/**
 * A security notice (ASVS 6.3.7: tell the owner after their authentication details change): the
 * same shells as the link mails (`templates/layout.ts`, everything escaped, nothing loaded), with
 * a link to the account pages and no token — nothing in it is worth forwarding or stealing.
 */
export function renderNotice(kind: NoticeKind, params: { displayName?: string | null }, opts: RenderOptions): RenderedMail {
  const c = NOTICE_CATALOGUES[(opts.locale ?? 'en').toLowerCase().split(/[-_]/)[0] ?? ''] ?? noticesEn;
  // Greeting and link fallback are shared with the link mails (same language when it has both).
  const shared = catalogueFor(c.lang);
  const m = c.kinds[kind];
  if (!m) throw new TypeError(`unknown notice kind ${String(kind)}`);
  const name = params.displayName ? sanitizeDisplayValue(params.displayName) : '';
  const values: Record<string, string> = {
    product: sanitizeDisplayValue(opts.productName, 60),
    issuer: opts.issuer.replace(/\/+$/, ''),
    name,
  };
  const fill = (s: string) => s.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole);
  const body: MailBody = {
    lang: c.lang,
    subject: fill(m.subject),
    preheader: fill(m.preheader),
    greeting: name ? fill(shared.greeting) : shared.greetingWithoutName,
    paragraphs: [fill(m.intro)],
    action: { label: c.action, url: accountPagesUrl(opts.issuer) },
    linkFallback: shared.linkFallback,
    afterAction: [fill(m.notYou)],
    footer: fill(c.footer),
  };
  return { subject: body.subject, text: renderText(body), html: renderHtml(body) };
}
