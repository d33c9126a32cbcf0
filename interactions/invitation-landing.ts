import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { AppError } from '../src/errors/index.ts';
import { accountAuthorizationUrl, redeemFirstPartyCode } from '../src/oidc/account-sign-in.ts';
import { validIp } from '../src/security/index.ts';
import {
  acceptInvitation,
  INVITATION_ACCEPT_PATH,
  INVITATION_CALLBACK_PATH,
  INVITATION_CLIENT_ID,
  type InvitationPreview,
  invitationCallbackUri,
  previewInvitation,
} from '../src/tenancy/index.ts';
import type { MessageKey } from '../views/i18n.ts';
import { sendPage } from '../views/layout.ts';
import { invitationOutcomePage, invitationPage } from '../views/pages/invitation.ts';
import { messagePage } from '../views/pages/message.ts';
import { createCsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { translatorFor } from './flow.ts';
import { landingFormOk } from './landing.ts';
import { redirect303 } from './redirect.ts';
import { formField } from './step.ts';

/**
 * Accepting an emailed invitation in the browser (`<issuer>/invitations/accept?token=…`).
 *
 * GET shows the invitation (tenant, inviter, invited address) and never consumes anything (mail
 * scanners follow links). Its button (POST, CSRF-bound to the link's token) starts an ordinary
 * sign-in — identifier, password or sign-up, second factors, an account chooser when another
 * account is signed in — as the first-party invitations client, with the invited address as
 * `login_hint`. The callback redeems the code in-process (as the account pages do: no token is
 * issued) and calls `acceptInvitation` for the account that signed in: one transaction accepts
 * the invitation, adds the membership and binds the invited roles, or fails with its reason
 * (another account: "sign in with the invited address", offering exactly that).
 *
 * The pending acceptance (link token, PKCE verifier, nonce) waits in the shared store under the
 * `state`, which is also in an HttpOnly cookie of the browser that asked: a callback in any other
 * browser, or replayed, finds nothing.
 */

const COOKIE = 'iam-inv';
const PENDING_TTL_S = 3600;
const STATE = /^[A-Za-z0-9_-]{43}$/;
const pendingKey = (state: string) => `invitation:accept:${state}`;

interface Pending {
  token: string;
  verifier: string;
  nonce: string;
}

const secureCookies = (deps: InteractionDeps) => new URL(deps.issuer).protocol === 'https:';
const cookieName = (deps: InteractionDeps) => (secureCookies(deps) ? `__Host-${COOKIE}` : COOKIE);

function setCookie(ctx: Context, deps: InteractionDeps, value: string, maxAge: number): void {
  const secure = secureCookies(deps) ? '; Secure' : '';
  ctx.append('Set-Cookie', `${cookieName(deps)}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`);
}

const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const query = (ctx: Context, name: string) => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : '');

export function invitationLanding(router: Router, deps: InteractionDeps, mw: { errors: Middleware; parseForm: Middleware }): void {
  const acceptPath = `${deps.prefix}${INVITATION_ACCEPT_PATH}`;
  const callbackPath = `${deps.prefix}${INVITATION_CALLBACK_PATH}`;
  const csrf = createCsrfTokens(deps.cookieKeys);
  const csrfSubject = (token: string) => `invitation\0${token}`;

  const message = (ctx: Context, title: MessageKey, body: MessageKey, status: number) => {
    const tr = translatorFor(ctx);
    sendPage(ctx, messagePage(tr, title, body), { t: tr, assetsBase: deps.prefix, status });
  };

  const outcome = (ctx: Context, status: number, page: Parameters<typeof invitationOutcomePage>[0]) => {
    const tr = translatorFor(ctx);
    sendPage(ctx, invitationOutcomePage(page), { t: tr, assetsBase: deps.prefix, status });
  };

  /** The page for an invitation that cannot be accepted any more (or never could). */
  const unusable = (ctx: Context, preview: InvitationPreview | undefined) => {
    const tr = translatorFor(ctx);
    if (!preview) return message(ctx, 'invitation.invalid_title', 'invitation.invalid_body', 404);
    if (preview.status === 'accepted') return message(ctx, 'invitation.used_title', 'invitation.used_body', 410);
    const title = preview.status === 'revoked' ? 'invitation.revoked_title' : 'invitation.expired_title';
    return outcome(ctx, 410, { title: tr.t(title), body: tr.t('invitation.ask_again') });
  };

  router.get(acceptPath, mw.errors, async (ctx: Context) => {
    const token = query(ctx, 'token');
    const preview = await previewInvitation(deps.db, token);
    if (preview?.status !== 'pending') return unusable(ctx, preview);
    const tr = translatorFor(ctx);
    sendPage(
      ctx,
      invitationPage(tr, {
        tenant: preview.tenant.name,
        inviter: preview.inviter,
        email: preview.email,
        action: acceptPath,
        csrf: csrf.issue(csrfSubject(token)),
        token,
      }),
      { t: tr, assetsBase: deps.prefix },
    );
  });

  router.post(
    acceptPath,
    mw.errors,
    (ctx: Context, next: Next) => mw.parseForm(ctx, next),
    async (ctx: Context) => {
      const token = formField(ctx, 'token', 64) ?? '';
      if (!landingFormOk(ctx, deps, csrf, csrfSubject(token))) {
        deps.logger.warn({ path: ctx.path }, 'invitation form rejected (CSRF)');
        return message(ctx, 'csrf.title', 'csrf.body', 403);
      }
      const preview = await previewInvitation(deps.db, token);
      if (preview?.status !== 'pending') return unusable(ctx, preview);
      const state = randomBytes(32).toString('base64url');
      const pending: Pending = { token, verifier: randomBytes(32).toString('base64url'), nonce: randomBytes(16).toString('base64url') };
      await deps.store.set(pendingKey(state), JSON.stringify(pending), PENDING_TTL_S * 1000);
      setCookie(ctx, deps, state, PENDING_TTL_S);
      const url = accountAuthorizationUrl({
        issuer: deps.issuer,
        clientId: INVITATION_CLIENT_ID,
        redirectUri: invitationCallbackUri(deps.issuer),
        state,
        nonce: pending.nonce,
        codeChallenge: createHash('sha256').update(pending.verifier).digest('base64url'),
        // "Sign in with the invited address" after a wrong account: a fresh sign-in, not the session.
        forceLogin: formField(ctx, 'again', 1) === '1',
        loginHint: preview.email,
      });
      redirect303(ctx, url, [new URL(deps.issuer).origin]);
    },
  );

  router.get(callbackPath, mw.errors, async (ctx: Context) => {
    const tr = translatorFor(ctx);
    const failed = () => message(ctx, 'invitation.not_accepted_title', 'invitation.not_accepted_body', 400);
    // RFC 9207: the response names its issuer; anything else is a mix-up.
    const iss = query(ctx, 'iss');
    if (iss && iss !== deps.issuer) return failed();
    const state = query(ctx, 'state');
    const bound = ctx.cookies.get(cookieName(deps), { signed: false }) ?? '';
    if (!STATE.test(state) || !sameText(state, bound)) return failed();
    const raw = await deps.store.get(pendingKey(state));
    await deps.store.del(pendingKey(state));
    setCookie(ctx, deps, '', 0);
    if (raw === null) return failed();
    const pending = JSON.parse(raw) as Pending;
    const back = { href: `${acceptPath}?token=${encodeURIComponent(pending.token)}`, label: tr.t('invitation.back') };
    if (query(ctx, 'error') || !query(ctx, 'code')) {
      return outcome(ctx, 400, { title: tr.t('invitation.not_accepted_title'), body: tr.t('invitation.not_accepted_body'), back });
    }
    const signIn = await redeemFirstPartyCode(
      deps.provider(),
      {
        code: query(ctx, 'code'),
        clientId: INVITATION_CLIENT_ID,
        redirectUri: invitationCallbackUri(deps.issuer),
        codeVerifier: pending.verifier,
        nonce: pending.nonce,
      },
      deps.logger,
    );
    if (!signIn)
      return outcome(ctx, 400, { title: tr.t('invitation.not_accepted_title'), body: tr.t('invitation.not_accepted_body'), back });

    const preview = await previewInvitation(deps.db, pending.token);
    const account = await deps.db('users').where({ id: signIn.accountId }).first('email', 'email_verified_at');
    const meta = {
      ip: validIp(ctx.ip),
      userAgent: ctx.get('user-agent') || undefined,
      requestId: ctx.state.requestId as string | undefined,
    };
    try {
      const accepted = await acceptInvitation(deps.db, pending.token, { id: signIn.accountId }, meta);
      const tenant = preview?.tenant.id === accepted.tenant_id ? preview.tenant.name : '';
      outcome(ctx, 200, {
        title: tr.t('invitation.joined_title', { tenant }),
        body: tr.t('invitation.joined_body', { tenant, email: account?.email ?? '' }),
      });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      deps.logger.info({ code: err.code, reason: err.extensions?.reason }, 'invitation not accepted');
      const tenant = preview?.tenant.name ?? '';
      switch (err.code) {
        case 'invitation_wrong_account': {
          const invited = preview?.email ?? '';
          const email = account?.email ?? '';
          const unverified = email.toLowerCase() === invited.toLowerCase();
          return outcome(ctx, 403, {
            title: tr.t('invitation.wrong_account_title'),
            body: unverified ? tr.t('invitation.unverified_body') : tr.t('invitation.wrong_account_body', { invited, email }),
            ...(unverified
              ? {}
              : {
                  retry: {
                    action: acceptPath,
                    csrf: csrf.issue(csrfSubject(pending.token)),
                    token: pending.token,
                    label: tr.t('invitation.sign_in_other', { invited }),
                  },
                }),
          });
        }
        case 'conflict':
          return outcome(ctx, 409, {
            title: tr.t('invitation.blocked_title', { tenant }),
            body: tr.t('invitation.blocked_body', { tenant }),
          });
        case 'invitation_expired':
        case 'invitation_revoked':
        case 'invitation_already_accepted':
        case 'not_found':
          return unusable(ctx, preview);
        default:
          return failed();
      }
    }
  });
}
