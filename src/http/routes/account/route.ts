import type { Context } from 'koa';
import type { FieldError } from '../../../../views/components.ts';
import { sendPage } from '../../../../views/layout.ts';
import type { AccountSection } from '../../../../views/pages/account-common.ts';
import { accountMessagePage } from '../../../../views/pages/account-common.ts';
import type { AccountRequest } from './request.ts';

/**
 * One page or action of the account pages, mounted at `<prefix>/account/<path>`. The framework
 * (index.ts) runs before the handler: it loads the session (a GET without one starts a sign-in
 * that returns to `section`; a POST without one goes back to the overview) and, for POST, parses
 * the form and checks CSRF — a handler never sees a request that failed those.
 */
export interface AccountRoute {
  method: 'GET' | 'POST';
  /** Below `/account` ('' = the overview); `:param` segments as in @koa/router. */
  path: string;
  /** Where a sign-in started by this route returns to. */
  section: AccountSection;
  handler(ctx: Context, a: AccountRequest): Promise<void>;
  /** Larger form bodies (the passkey response); default 16 KiB. */
  formLimit?: string;
}

/** The submitted form field (urlencoded, parsed by the framework), bounded. */
export function formField(ctx: Context, name: string, maxLength = 1024): string | undefined {
  const body = (ctx.request as { body?: unknown }).body;
  const value = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' && value.length <= maxLength ? value : undefined;
}

/** 404: someone else's (or no) passkey, session or grant — indistinguishable, nothing changed. */
export function notFound(ctx: Context, a: AccountRequest): void {
  sendPage(
    ctx,
    accountMessagePage({
      title: a.tr.t('account.not_found.title'),
      body: a.tr.t('account.not_found.body'),
      link: { href: a.base, label: a.tr.t('account.back') },
    }),
    { t: a.tr, assetsBase: a.deps.prefix, status: 404 },
  );
}

export type { FieldError };
