import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { consumeToken, peekToken, type TokenFailureReason } from '../src/identity/one-time-tokens.ts';
import { MAIL_LINK_PATHS } from '../src/mail/render.ts';
import { validIp } from '../src/security/index.ts';
import type { MessageKey } from '../views/i18n.ts';
import { sendPage } from '../views/layout.ts';
import { magicLinkConfirmPage } from '../views/pages/magic-link.ts';
import { createCsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { translatorFor, UID_PATTERN } from './flow.ts';
import { landingFormOk, landingMessage } from './landing.ts';
import { redirect303 } from './redirect.ts';
import { formField } from './step.ts';

/**
 * Magic-link sign-in (ADR-0013), the part outside one interaction's pages: the browser-binding
 * cookie, and the landing behind the emailed link (`<issuer>/login/magic-link?token=…`).
 *
 * - The browser that asks gets a random binding in an HttpOnly, SameSite=Lax cookie (`__Host-`
 *   prefixed and Secure when the issuer is https); the token is stored with its hash and with the
 *   interaction it belongs to.
 * - GET of the link only checks the token (`peekToken`) and shows a button: mail scanners follow
 *   links, nothing is consumed. The POST redeems it with the binding: another browser gets
 *   `wrong_browser` ("open it where you asked") and the token stays unused — the browser that asked
 *   is never signed in by someone else's click.
 * - After redemption the landing leaves a short-lived handover under the interaction's uid and
 *   sends the browser to `/interaction/:uid/magic-link`, where the interaction cookie is checked
 *   again and the login continues (a second factor the user has is still asked for).
 */

const COOKIE = 'iam-ml';
/** The binding lives as long as a magic link can (10 min). */
const COOKIE_MAX_AGE_S = 600;
const HANDOVER_TTL_MS = 120_000;

const handoverKey = (uid: string) => `signin:magic-link:${uid}`;

const secureCookies = (deps: InteractionDeps) => new URL(deps.issuer).protocol === 'https:';
export const bindingCookieName = (deps: InteractionDeps): string => (secureCookies(deps) ? `__Host-${COOKIE}` : COOKIE);

/** The browser's binding value, if it sent a well-formed one. */
export function bindingOf(ctx: Context, deps: InteractionDeps): string | undefined {
  const value = ctx.cookies.get(bindingCookieName(deps), { signed: false });
  return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
}

export function setBindingCookie(ctx: Context, deps: InteractionDeps, binding: string): void {
  const secure = secureCookies(deps) ? '; Secure' : '';
  ctx.append('Set-Cookie', `${bindingCookieName(deps)}=${binding}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax${secure}`);
}

/** What the landing hands to the interaction once the link was redeemed in the right browser. */
export interface MagicLinkHandover {
  userId: string;
  email: string;
}

export async function takeHandover(deps: InteractionDeps, uid: string): Promise<MagicLinkHandover | undefined> {
  const raw = await deps.store.get(handoverKey(uid));
  if (raw === null) return undefined;
  await deps.store.del(handoverKey(uid));
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    return typeof v.userId === 'string' && typeof v.email === 'string' ? { userId: v.userId, email: v.email } : undefined;
  } catch {
    return undefined;
  }
}

const FAILURE: Record<TokenFailureReason, { status: number; title: MessageKey; body: MessageKey }> = {
  wrong_browser: { status: 403, title: 'magic_link.wrong_browser_title', body: 'magic_link.wrong_browser_body' },
  invalid: { status: 400, title: 'magic_link.invalid_title', body: 'magic_link.invalid_body' },
  expired: { status: 410, title: 'magic_link.invalid_title', body: 'magic_link.invalid_body' },
  used: { status: 410, title: 'magic_link.invalid_title', body: 'magic_link.invalid_body' },
};

/** The landing routes of the emailed link (GET: confirm page; POST: redeem). */
export function magicLinkLanding(router: Router, deps: InteractionDeps, mw: { errors: Middleware; parseForm: Middleware }): void {
  const path = `${deps.prefix}${MAIL_LINK_PATHS.magic_link}`;
  const csrf = createCsrfTokens(deps.cookieKeys);
  const csrfSubject = (token: string) => `magic-link\0${token}`;
  const page = landingMessage(deps);
  const meta = (ctx: Context) => ({
    ip: validIp(ctx.ip),
    userAgent: ctx.get('user-agent') || undefined,
    requestId: ctx.state.requestId as string | undefined,
  });

  router.get(path, mw.errors, async (ctx: Context) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const peek = await peekToken(deps.db, { purpose: 'magic_link', token, browserBinding: bindingOf(ctx, deps) });
    if (!peek.ok) {
      const f = FAILURE[peek.reason];
      return page(ctx, f.title, f.body, f.status);
    }
    const targets = peek.record.context.formTargets;
    const tr = translatorFor(ctx);
    sendPage(
      ctx,
      magicLinkConfirmPage(tr, {
        action: path,
        csrf: csrf.issue(csrfSubject(token)),
        token,
        email: peek.record.email,
        formTargets: Array.isArray(targets) ? targets.filter((x): x is string => typeof x === 'string') : [],
      }),
      { t: tr, assetsBase: deps.prefix },
    );
  });

  router.post(
    path,
    mw.errors,
    (ctx: Context, next: Next) => mw.parseForm(ctx, next),
    async (ctx: Context) => {
      const token = formField(ctx, 'token', 64) ?? '';
      if (!landingFormOk(ctx, deps, csrf, csrfSubject(token))) {
        deps.logger.warn({ path: ctx.path }, 'magic-link form rejected (CSRF)');
        return page(ctx, 'csrf.title', 'csrf.body', 403);
      }
      const result = await consumeToken(deps.db, { purpose: 'magic_link', token, browserBinding: bindingOf(ctx, deps) }, meta(ctx));
      if (!result.ok) {
        const f = FAILURE[result.reason];
        return page(ctx, f.title, f.body, f.status);
      }
      const { record } = result;
      const uid = typeof record.context.uid === 'string' ? record.context.uid : '';
      const user = record.userId
        ? await deps.db('users').where({ id: record.userId, status: 'active' }).whereNull('deleted_at').first('id', 'email')
        : undefined;
      if (!user || !UID_PATTERN.test(uid)) return page(ctx, 'magic_link.invalid_title', 'magic_link.invalid_body', 400);
      const interaction = await deps.provider().Interaction.find(uid);
      if (!interaction) return page(ctx, 'expired.title', 'expired.body', 404);
      const handover: MagicLinkHandover = { userId: user.id as string, email: record.email };
      await deps.store.set(handoverKey(uid), JSON.stringify(handover), HANDOVER_TTL_MS);
      redirect303(ctx, `${deps.prefix}/interaction/${uid}/magic-link`);
    },
  );
}
