import type { Context } from 'koa';
import type { FieldError } from '../../../../views/components.ts';
import { type MessageKey, negotiateLocale, type Translator, translator } from '../../../../views/i18n.ts';
import { type PageContent, sendPage } from '../../../../views/layout.ts';
import { type AccountPageModel, type AccountSection, sectionHref } from '../../../../views/pages/account-common.ts';
import type { AccountContext, AccountProfile } from '../../../account/index.ts';
import { isRecentAuth } from '../../../account/index.ts';
import { validIp } from '../../../security/index.ts';
import type { AccountDeps } from './deps.ts';
import type { AccountSessionRecord } from './session.ts';

/** Confirmations after a change (post/redirect/get): only these keys travel in `?done=`. */
export const NOTICES = {
  profile_saved: 'account.notice.profile_saved',
  password_changed: 'account.notice.password_changed',
  totp_enabled: 'account.notice.totp_enabled',
  totp_removed: 'account.notice.totp_removed',
  passkey_added: 'account.notice.passkey_added',
  passkey_renamed: 'account.notice.passkey_renamed',
  passkey_removed: 'account.notice.passkey_removed',
  session_revoked: 'account.notice.session_revoked',
  app_revoked: 'account.notice.app_revoked',
} as const satisfies Record<string, MessageKey>;
export type Notice = keyof typeof NOTICES;

/** One signed-in request of the account pages. */
export interface AccountRequest {
  readonly deps: AccountDeps;
  readonly handle: string;
  readonly session: AccountSessionRecord;
  readonly user: AccountProfile;
  readonly tr: Translator;
  /** The CSRF token of this session (every form carries it). */
  readonly csrf: string;
  /** `<prefix>/account`. */
  readonly base: string;
  /** The sign-in is recent enough for a sensitive change. */
  readonly recent: boolean;
  readonly meta: AccountContext;
  model(errors?: readonly FieldError[]): AccountPageModel;
  render(page: PageContent, status?: number): void;
  /** 303 to a section, with an optional confirmation. */
  redirect(section: AccountSection, notice?: Notice): void;
  /** False (after a 303 to a fresh sign-in that returns to `section`) when the sign-in is too old. */
  requireRecent(section: AccountSection): boolean;
}

export const translatorFor = (ctx: Context): Translator => translator(negotiateLocale({ acceptLanguage: ctx.get('accept-language') }));

export const requestMeta = (ctx: Context): AccountContext => ({
  ip: validIp(ctx.ip),
  userAgent: ctx.get('user-agent') || undefined,
  requestId: ctx.state.requestId as string | undefined,
});

/** A 303 to one of our own paths (never a value taken from the request). */
export function seeOther(ctx: Context, path: string): void {
  if (!path.startsWith('/') || path.startsWith('//')) throw new Error(`refusing to redirect to ${path.slice(0, 100)}`);
  ctx.status = 303;
  ctx.set('Location', path);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = '';
}

export function createAccountRequest(
  ctx: Context,
  deps: AccountDeps,
  s: { handle: string; record: AccountSessionRecord; user: AccountProfile; csrf: string },
): AccountRequest {
  const tr = translatorFor(ctx);
  const base = `${deps.prefix}/account`;
  const done = typeof ctx.query.done === 'string' && ctx.query.done in NOTICES ? NOTICES[ctx.query.done as Notice] : undefined;
  const recent = isRecentAuth(s.record.authTime, deps.recentAuthS);
  return {
    deps,
    handle: s.handle,
    session: s.record,
    user: s.user,
    tr,
    csrf: s.csrf,
    base,
    recent,
    meta: requestMeta(ctx),
    model: (errors) => ({
      tr,
      csrf: s.csrf,
      base,
      email: s.user.email,
      ...(done && ctx.method === 'GET' ? { notice: tr.t(done) } : {}),
      ...(errors?.length ? { errors } : {}),
    }),
    render: (page, status = 200) => sendPage(ctx, page, { t: tr, assetsBase: deps.prefix, status }),
    redirect: (section, notice) => seeOther(ctx, `${sectionHref(base, section)}${notice ? `?done=${notice}` : ''}`),
    requireRecent(section) {
      if (recent) return true;
      seeOther(ctx, `${base}/reauth?next=${section}`);
      return false;
    },
  };
}
