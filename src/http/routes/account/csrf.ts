import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

/**
 * CSRF protection of the account forms: a synchronizer token HMAC(k, subject) with k derived
 * from the cookie keys under its own label (so an interaction's token is worthless here), the
 * subject being the account session's handle (or, behind an emailed link, purpose + link token);
 * plus the browser's own signal: `Sec-Fetch-Site` other than `same-origin`, or an `Origin` of
 * another site, is refused even with a valid token.
 */
export interface AccountCsrf {
  issue(subject: string): string;
  verify(subject: string, presented: unknown): boolean;
}

export function createAccountCsrf(cookieKeys: readonly string[]): AccountCsrf {
  const keys = cookieKeys.map((k) => Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'iam/account-csrf/v1', 32)));
  const mac = (key: Buffer, subject: string) => createHmac('sha256', key).update(`account\0${subject}`).digest();
  return {
    issue: (subject) => mac(keys[0] as Buffer, subject).toString('base64url'),
    verify(subject, presented) {
      if (typeof presented !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(presented)) return false;
      const given = Buffer.from(presented, 'base64url');
      let ok = false;
      for (const key of keys) ok = timingSafeEqual(mac(key, subject), given) || ok;
      return ok;
    },
  };
}

/** This server's origin as the request reached it (Koa 3's `ctx.origin` is the request's Origin header). */
const ownOrigin = (ctx: Context) => `${ctx.protocol}://${ctx.host}`;

/** The request came from one of our own pages (as far as the browser tells). */
export function sameOriginRequest(ctx: Context, issuer: string): boolean {
  const site = ctx.get('sec-fetch-site');
  if (site && site !== 'same-origin') return false;
  const origin = ctx.get('origin');
  return !origin || origin === 'null' || origin === ownOrigin(ctx) || origin === new URL(issuer).origin;
}
