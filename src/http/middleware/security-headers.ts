import type { Middleware } from 'koa';

/**
 * Baseline headers for every response; pages set their own nonce-based CSP. Written with
 * `res.setHeader` and a plain content-type check because this runs on every token request.
 */
export function securityHeaders(opts: { hsts: boolean }): Middleware {
  const always: [string, string][] = [
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['X-Frame-Options', 'DENY'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
  ];
  if (opts.hsts) always.push(['Strict-Transport-Security', 'max-age=63072000; includeSubDomains']);
  return async (ctx, next) => {
    const res = ctx.res;
    for (const [name, value] of always) res.setHeader(name, value);
    await next();
    if (res.headersSent) return;
    const type = String(res.getHeader('Content-Type') ?? '');
    if (!res.hasHeader('Content-Security-Policy') && !type.startsWith('text/html')) {
      res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    }
    if (!res.hasHeader('Cache-Control')) res.setHeader('Cache-Control', 'no-store');
  };
}
