import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { koaBody } from 'koa-body';
import type { MessageKey } from '../../../../views/i18n.ts';
import { sendPage } from '../../../../views/layout.ts';
import { accountMessagePage } from '../../../../views/pages/account-common.ts';
import { getAccountProfile } from '../../../account/index.ts';
import { AppError } from '../../../errors/index.ts';
import { isEngineSessionActive } from '../../../oidc/account-sessions.ts';
import { createAccountCsrf, sameOriginRequest } from './csrf.ts';
import type { AccountDeps } from './deps.ts';
import { emailChangeLanding, emailRoutes } from './email.ts';
import { overviewRoutes } from './overview.ts';
import { passkeyOptionsRoute, passkeyRoutes } from './passkeys.ts';
import { passwordRoutes } from './password.ts';
import { profileRoutes } from './profile.ts';
import { type AccountRequest, createAccountRequest, seeOther, translatorFor } from './request.ts';
import type { AccountRoute } from './route.ts';
import { createAccountSessions } from './session.ts';
import { sessionRoutes } from './sessions.ts';
import { callbackRoute, isSection, startSignIn } from './sign-in.ts';
import { twoStepRoutes } from './two-step.ts';

export type { AccountDeps } from './deps.ts';
export { accountSessionKey } from './session.ts';

/** A form that failed the CSRF checks: 403, nothing processed. */
class CsrfRejected extends Error {}

/** Errors of a dependency we cannot do without (Redis, PostgreSQL): "try again later". */
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|Stream isn't writeable|enableOfflineQueue|MaxRetriesPerRequest|Command timed out|Connection terminated|timeout exceeded/i;

function messagePage(ctx: Context, deps: AccountDeps, status: number, title: MessageKey, body: MessageKey): void {
  const tr = translatorFor(ctx);
  sendPage(
    ctx,
    accountMessagePage({ title: tr.t(title), body: tr.t(body), link: { href: `${deps.prefix}/account`, label: tr.t('account.back') } }),
    {
      t: tr,
      assetsBase: deps.prefix,
      status,
    },
  );
}

/** Every failure of the account routes is a page (never problem+json): CSRF 403, outage 503, else 500. */
function pageErrors(deps: AccountDeps): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof CsrfRejected) {
        deps.logger.warn({ reason: err.message, path: ctx.path }, 'account form rejected (CSRF)');
        return messagePage(ctx, deps, 403, 'csrf.title', 'account.csrf.body');
      }
      const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? ''} ${String((err as { code?: unknown })?.code ?? '')}`;
      if (UNAVAILABLE.test(text) || (err instanceof AppError && err.code === 'unavailable')) {
        deps.logger.warn({ err }, 'account page refused: a dependency is unavailable');
        ctx.set('Retry-After', '30');
        return messagePage(ctx, deps, 503, 'account.unavailable.title', 'account.unavailable.body');
      }
      deps.logger.error({ err }, 'account page failed');
      return messagePage(ctx, deps, 500, 'failure.title', 'account.unavailable.body');
    }
  };
}

/** Form bodies only (urlencoded); anything else parses to nothing and fails the CSRF check. */
const formParser = (limit: string): Middleware =>
  koaBody({
    urlencoded: true,
    json: false,
    text: false,
    multipart: false,
    formLimit: limit,
    onError: () => {
      throw new CsrfRejected('unparseable form body');
    },
  });

/**
 * The account self-service pages at `<prefix>/account` (ADR-0018) and the landing of the
 * email-change link. Every page needs a signed-in account session, which rests on a live engine
 * session of the same user; every POST needs the session's CSRF token and a same-origin request.
 */
export function accountRoutes(deps: AccountDeps): Router {
  const router = new Router();
  const base = `${deps.prefix}/account`;
  const sessions = createAccountSessions({
    store: deps.store,
    cookieKeys: deps.cookieKeys,
    secure: new URL(deps.issuer).protocol === 'https:',
    idleS: deps.sessionIdleS,
    maxS: deps.sessionMaxS,
  });
  const csrf = createAccountCsrf(deps.cookieKeys);
  const errors = pageErrors(deps);
  const parseSmall = formParser('16kb');

  /** The signed-in request, or undefined (a dead session is cleared on the way). */
  async function resolve(ctx: Context): Promise<AccountRequest | undefined> {
    const loaded = await sessions.load(ctx);
    if (!loaded) return undefined;
    const { handle, record } = loaded;
    const alive = await isEngineSessionActive(deps.db, { userId: record.userId, sessionUid: record.sessionUid });
    const user = alive ? await getAccountProfile(deps.db, record.userId).catch(() => undefined) : undefined;
    if (!user) {
      await sessions.destroy(ctx, handle);
      return undefined;
    }
    await sessions.touch(handle, record);
    return createAccountRequest(ctx, deps, { handle, record, user, csrf: csrf.issue(handle) });
  }

  callbackRoute(router, deps, sessions, errors);

  // A fresh sign-in before a sensitive change: prompt=login, max_age=0, the user's address hinted.
  router.get(`${base}/reauth`, errors, async (ctx: Context) => {
    const a = await resolve(ctx);
    const next = isSection(ctx.query.next) ? ctx.query.next : 'overview';
    await startSignIn(ctx, deps, sessions, { next, forceLogin: true, ...(a?.user.email ? { loginHint: a.user.email } : {}) });
  });

  emailChangeLanding(router, deps, csrf, { errors, parseForm: parseSmall });
  passkeyOptionsRoute(router, deps, { csrf, errors, resolve });

  const routes: AccountRoute[] = [
    ...overviewRoutes,
    ...profileRoutes,
    ...emailRoutes,
    ...passwordRoutes,
    ...twoStepRoutes,
    ...passkeyRoutes,
    ...sessionRoutes(sessions),
  ];
  for (const route of routes) {
    const path = route.path ? `${base}/${route.path}` : base;
    if (route.method === 'GET') {
      router.get(path, errors, async (ctx: Context) => {
        const a = await resolve(ctx);
        if (!a) return startSignIn(ctx, deps, sessions, { next: route.section });
        await route.handler(ctx, a);
      });
      continue;
    }
    const parse = route.formLimit ? formParser(route.formLimit) : parseSmall;
    router.post(
      path,
      errors,
      (ctx: Context, next: Next) => parse(ctx, next),
      async (ctx: Context) => {
        const a = await resolve(ctx);
        if (!a) return seeOther(ctx, base);
        const body = (ctx.request as { body?: unknown }).body;
        const token = body && typeof body === 'object' ? (body as Record<string, unknown>).csrf : undefined;
        if (!sameOriginRequest(ctx, deps.issuer)) throw new CsrfRejected('cross-site request');
        if (!csrf.verify(a.handle, token)) throw new CsrfRejected(token === undefined ? 'token missing' : 'token wrong');
        await route.handler(ctx, a);
      },
    );
  }
  return router;
}
