import { createHash } from 'node:crypto';

/**
 * Server-rendered pages of the OIDC layer (error page, logout prompts, the interim sign-in page):
 * self-contained HTML, no third-party resources, no scripts, one inline stylesheet allowed by its
 * hash — so the CSP needs no 'unsafe-inline' — and never framable.
 */
const STYLE =
  'body{margin:0;background:#f5f6f8;color:#1c2230;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}' +
  'main{max-width:30rem;margin:12vh auto;padding:2rem 2.25rem;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.12)}' +
  'h1{font-size:1.3rem;margin:0 0 .75rem}p{margin:.5rem 0}code{font-size:.9em;background:#f0f1f4;padding:0 .25em;border-radius:3px}' +
  '.muted{color:#5b6272;font-size:.9rem}button{font:inherit;padding:.45rem 1.1rem;margin:1rem .5rem 0 0;border-radius:6px;border:1px solid #aab;cursor:pointer}' +
  'button.primary{background:#1f4fd1;border-color:#1f4fd1;color:#fff}';

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** CSP of every page rendered here. `form-action` is left out where a form's submission redirects off-site. */
export function pageCsp(opts: { formAction?: boolean } = {}): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    "img-src 'self'",
    ...(opts.formAction === false ? [] : ["form-action 'self'"]),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/**
 * The CSP set before the engine runs, for the pages it renders itself (the `form_post` response
 * mode and the no-session logout submit): it adds the hash of its one inline script to
 * `script-src`, so no other script can run. No `form-action`: those forms post to the client.
 */
export const ENGINE_CSP = "default-src 'none'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface PageContent {
  title: string;
  /** Trusted HTML (callers escape every value they interpolate). */
  body: string;
  formAction?: boolean;
}

interface PageCtx {
  type: string;
  body: unknown;
  set(field: string, value: string): void;
}

/** Renders a page with its security headers; the status is the caller's. */
export function renderPage(ctx: PageCtx, page: PageContent): void {
  ctx.type = 'html';
  ctx.set('Content-Security-Policy', pageCsp({ formAction: page.formAction }));
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${page.body}
</main>
</body>
</html>
`;
}
