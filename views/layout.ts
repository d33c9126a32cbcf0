import { randomBytes } from 'node:crypto';
import { type Asset, assetUrl, STYLESHEET } from './assets.ts';
import { html, type SafeHtml } from './html.ts';
import type { Translator } from './i18n.ts';

/** What a page module returns: its title (plain text) and its `<main>` content. */
export interface PageContent {
  title: string;
  body: SafeHtml;
  /** The page shows validation errors (the document title says so first, for screen readers). */
  hasErrors?: boolean;
  /**
   * Origins the page's forms may end up at besides our own: a sign-in form's 303 chain ends at
   * the client's redirect URI, a logout form's at its post-logout URI (CSP `form-action` also
   * governs redirects after a submission).
   */
  formTargets?: readonly string[];
  /**
   * Scripts the page needs (only where it cannot work without, e.g. WebAuthn): served from our
   * assets, allowed by this response's nonce, with `connect-src 'self'` for their calls home.
   */
  scripts?: readonly Asset[];
}

/** A fresh 128-bit nonce per response. */
export const newNonce = (): string => randomBytes(16).toString('base64');

/**
 * The CSP of every page: nothing loads but the one stylesheet carrying this response's nonce;
 * no script at all, never framed, no `<base>`, forms only to ourselves (and `formTargets`).
 */
export function pageCsp(opts: { nonce: string; formTargets?: readonly string[]; scripts?: boolean }): string {
  const targets = [...new Set((opts.formTargets ?? []).filter((o) => /^https?:\/\/[^\s;,'"]+$/.test(o)))];
  return [
    "default-src 'none'",
    `style-src 'nonce-${opts.nonce}'`,
    ...(opts.scripts ? [`script-src 'nonce-${opts.nonce}'`, "connect-src 'self'"] : []),
    "img-src 'self'",
    `form-action ${["'self'", ...targets].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The document around a page's content. `assetsBase` is the issuer path ('' for a root issuer). */
export function renderDocument(page: PageContent, opts: { t: Translator; nonce: string; assetsBase: string }): string {
  const { t, locale } = opts.t;
  const title = t(page.hasErrors ? 'layout.title_error' : 'layout.title', { page: page.title });
  return html`<!doctype html>
<html lang="${locale}" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${title}</title>
<link rel="stylesheet" href="${assetUrl(opts.assetsBase, STYLESHEET)}" nonce="${opts.nonce}">
${(page.scripts ?? []).map((s) => html`<script src="${assetUrl(opts.assetsBase, s)}" integrity="${s.integrity}" nonce="${opts.nonce}" defer></script>`)}
</head>
<body>
<a class="skip-link" href="#main">${t('layout.skip')}</a>
<header class="site-header"><p class="brand">${t('layout.product')}</p></header>
<main id="main" tabindex="-1">
${page.body}
</main>
<footer class="site-footer"><p>${t('layout.footer')}</p></footer>
</body>
</html>
`.value;
}

/** The Koa context as far as a page needs it. */
export interface PageCtx {
  status: number;
  type: string;
  body: unknown;
  set(field: string, value: string): void;
}

/** Sends a page with its headers (strict nonce CSP, never cached, never framed, no referrer). */
export function sendPage(ctx: PageCtx, page: PageContent, opts: { t: Translator; assetsBase: string; status?: number }): void {
  const nonce = newNonce();
  if (opts.status !== undefined) ctx.status = opts.status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Content-Security-Policy', pageCsp({ nonce, formTargets: page.formTargets, scripts: (page.scripts?.length ?? 0) > 0 }));
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.body = renderDocument(page, { t: opts.t, nonce, assetsBase: opts.assetsBase });
}
