/**
 * Redirects of the interaction routes: always 303 (RFC 9700 §4.12: never 307 after a form with
 * credentials), and only to our own pages or the engine's resume URL — never to a URL taken
 * from the request. `isSafeRelativePath` is the strict check for any `return_to`-style value a
 * later page may accept: a path on this origin, nothing that a browser could read as another host.
 */
export function isSafeRelativePath(value: unknown, opts: { under?: string } = {}): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return false;
  // One leading slash, then not a second slash or backslash (`//evil`, `/\evil` are other hosts).
  if (!/^\/(?![/\\])/.test(value)) return false;
  // Printable ASCII only: no control characters (browsers strip tabs/newlines), no spaces, no backslashes.
  if (!/^[\x21-\x7e]+$/.test(value) || value.includes('\\')) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return false;
  }
  // Encoded tricks (`/%2F%2Fevil`, `/%5Cevil`, dot segments) are refused rather than interpreted.
  if (/^\/[/\\]/.test(decoded) || decoded.includes('\\') || /(^|\/)\.\.?(\/|$)/.test(decoded)) return false;
  const url = URL.parse(value, 'http://iam.invalid');
  if (url?.origin !== 'http://iam.invalid') return false;
  if (!url) return false;
  if (opts.under !== undefined) {
    const base = opts.under.replace(/\/+$/, '');
    if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return false;
  }
  return true;
}

interface RedirectCtx {
  status: number;
  body: unknown;
  protocol: string;
  host: string;
  set(field: string, value: string): void;
}

/**
 * This server's origin as the request reached it (behind a trusted proxy: the forwarded one).
 * Not Koa's `ctx.origin`, which in Koa 3 is the request's `Origin` header — the sender's claim.
 */
export const ownOrigin = (ctx: { protocol: string; host: string }): string => `${ctx.protocol}://${ctx.host}`;

/**
 * 303 to one of our pages (a safe relative path) or to an absolute URL on our own origin (the
 * engine's resume URL, built by the engine from the issuer); anything else is a programming
 * error and throws instead of redirecting.
 */
export function redirect303(ctx: RedirectCtx, location: string, allowedOrigins: readonly string[] = []): void {
  const absolute = URL.parse(location);
  const ok = absolute ? [ownOrigin(ctx), ...allowedOrigins].includes(absolute.origin) : isSafeRelativePath(location);
  if (!ok) throw new Error(`refusing to redirect to ${location.slice(0, 100)}`);
  ctx.status = 303;
  ctx.set('Location', location);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = '';
}
