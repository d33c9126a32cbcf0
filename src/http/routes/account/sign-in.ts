import { createHash, randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { sendPage } from '../../../../views/layout.ts';
import { ACCOUNT_SECTIONS, type AccountSection, accountMessagePage, sectionHref } from '../../../../views/pages/account-common.ts';
import { ACCOUNT_CLIENT_ID, accountCallbackUri, getAccountProfile } from '../../../account/index.ts';
import { AppError } from '../../../errors/index.ts';
import { recordSessionDevice } from '../../../oidc/account-sessions.ts';
import { accountAuthorizationUrl, redeemFirstPartyCode } from '../../../oidc/account-sign-in.ts';
import type { AccountDeps } from './deps.ts';
import { requestMeta, seeOther, translatorFor } from './request.ts';
import type { AccountSessions } from './session.ts';

/**
 * Signing in to the account pages (ADR-0018): through the engine's authorization endpoint like
 * any relying party (code + PKCE S256, state bound to this browser, nonce), with `prompt=login`
 * and `max_age=0` when a sensitive change needs a fresh sign-in. The callback redeems the code
 * in-process (src/oidc/account-sign-in.ts) and starts a new account session.
 */
export const isSection = (v: unknown): v is AccountSection => typeof v === 'string' && (ACCOUNT_SECTIONS as readonly string[]).includes(v);

export async function startSignIn(
  ctx: Context,
  deps: AccountDeps,
  sessions: AccountSessions,
  o: { next: AccountSection; forceLogin?: boolean; loginHint?: string },
): Promise<void> {
  const verifier = randomBytes(32).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const state = await sessions.beginSignIn(ctx, { verifier, nonce, next: o.next });
  const url = accountAuthorizationUrl({
    issuer: deps.issuer,
    clientId: ACCOUNT_CLIENT_ID,
    redirectUri: accountCallbackUri(deps.issuer),
    state,
    nonce,
    codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
    forceLogin: o.forceLogin,
    loginHint: o.loginHint,
  });
  ctx.status = 303;
  ctx.set('Location', url);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = '';
}

function failed(ctx: Context, deps: AccountDeps, status: number): void {
  const tr = translatorFor(ctx);
  sendPage(
    ctx,
    accountMessagePage({
      title: tr.t('account.signin_failed.title'),
      body: tr.t('account.signin_failed.body'),
      link: { href: `${deps.prefix}/account`, label: tr.t('account.back') },
    }),
    { t: tr, assetsBase: deps.prefix, status },
  );
}

const param = (ctx: Context, name: string) => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : '');

/** `GET /account/callback`: where the engine returns the browser with a code (or an error). */
export function callbackRoute(router: Router, deps: AccountDeps, sessions: AccountSessions, errors: Middleware): void {
  router.get(`${deps.prefix}/account/callback`, errors, async (ctx: Context) => {
    // RFC 9207: the response names its issuer; anything else is a mix-up.
    const iss = param(ctx, 'iss');
    if (iss && iss !== deps.issuer) return failed(ctx, deps, 400);
    const pending = await sessions.takeSignIn(ctx, param(ctx, 'state'));
    if (!pending) return failed(ctx, deps, 400);
    if (param(ctx, 'error') || !param(ctx, 'code')) return failed(ctx, deps, 400);
    const signIn = await redeemFirstPartyCode(
      deps.provider(),
      {
        code: param(ctx, 'code'),
        clientId: ACCOUNT_CLIENT_ID,
        redirectUri: accountCallbackUri(deps.issuer),
        codeVerifier: pending.verifier,
        nonce: pending.nonce,
      },
      deps.logger,
    );
    if (!signIn) return failed(ctx, deps, 400);
    try {
      await getAccountProfile(deps.db, signIn.accountId);
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_found') return failed(ctx, deps, 403);
      throw err;
    }
    // A new handle for every sign-in; whatever the browser held before is gone.
    const previous = await sessions.load(ctx);
    await sessions.destroy(ctx, previous?.handle);
    await sessions.create(ctx, {
      userId: signIn.accountId,
      sessionUid: signIn.sessionUid,
      authTime: signIn.authTime,
      amr: signIn.amr,
      ...(signIn.acr ? { acr: signIn.acr } : {}),
    });
    const meta = requestMeta(ctx);
    await recordSessionDevice(deps.db, { userId: signIn.accountId, ...signIn, ip: meta.ip, userAgent: meta.userAgent });
    seeOther(ctx, sectionHref(`${deps.prefix}/account`, isSection(pending.next) ? pending.next : 'overview'));
  });
}
