import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { recordAudit } from '../src/audit/index.ts';
import { consumeToken, peekToken } from '../src/identity/one-time-tokens.ts';
import { MAIL_LINK_PATHS } from '../src/mail/render.ts';
import { validIp } from '../src/security/index.ts';
import { sendPage } from '../views/layout.ts';
import { verifyConfirmPage, verifyDonePage } from '../views/pages/password-reset.ts';
import { createCsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { translatorFor, UID_PATTERN } from './flow.ts';
import { landingFormOk, landingMessage } from './landing.ts';
import { formField } from './step.ts';

/**
 * The landing of an emailed verification link (`<issuer>/email/verify?token=…`). GET shows a
 * button (never consumes: mail scanners), POST redeems the token and marks the address verified
 * when it is still the account's address; a pending self sign-up becomes active. Nobody is
 * signed in: the page links back to the waiting sign-in.
 */
export function emailVerificationLanding(router: Router, deps: InteractionDeps, mw: { errors: Middleware; parseForm: Middleware }): void {
  const path = `${deps.prefix}${MAIL_LINK_PATHS.email_verification}`;
  const csrf = createCsrfTokens(deps.cookieKeys);
  const csrfSubject = (token: string) => `email-verification\0${token}`;
  const page = landingMessage(deps);
  const invalid = (ctx: Context, reason: string) =>
    page(ctx, 'verify.invalid_title', 'verify.invalid_body', reason === 'invalid' ? 400 : 410);

  router.get(path, mw.errors, async (ctx: Context) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const peek = await peekToken(deps.db, { purpose: 'email_verification', token });
    if (!peek.ok) return invalid(ctx, peek.reason);
    const tr = translatorFor(ctx);
    sendPage(ctx, verifyConfirmPage(tr, { action: path, csrf: csrf.issue(csrfSubject(token)), token, email: peek.record.email }), {
      t: tr,
      assetsBase: deps.prefix,
    });
  });

  router.post(
    path,
    mw.errors,
    (ctx: Context, next: Next) => mw.parseForm(ctx, next),
    async (ctx: Context) => {
      const token = formField(ctx, 'token', 64) ?? '';
      if (!landingFormOk(ctx, deps, csrf, csrfSubject(token))) {
        deps.logger.warn({ path: ctx.path }, 'email verification form rejected (CSRF)');
        return page(ctx, 'csrf.title', 'csrf.body', 403);
      }
      const meta = {
        ip: validIp(ctx.ip),
        userAgent: ctx.get('user-agent') || undefined,
        requestId: ctx.state.requestId as string | undefined,
      };
      const outcome = await deps.db.transaction(async (trx) => {
        const result = await consumeToken(trx, { purpose: 'email_verification', token }, meta);
        if (!result.ok) return result;
        const { record } = result;
        if (!record.userId) return { ok: false as const, reason: 'invalid' as const };
        const user = await trx('users').where({ id: record.userId }).whereNull('deleted_at').first('id', 'email', 'status', 'profile');
        if (!user || String(user.email ?? '').toLowerCase() !== record.email.toLowerCase())
          return { ok: false as const, reason: 'invalid' as const };
        const pending = user.status === 'disabled' && (user.profile as Record<string, unknown> | null)?.signup === 'pending';
        const { signup: _, ...profile } = (user.profile ?? {}) as Record<string, unknown>;
        await trx('users')
          .where({ id: user.id })
          .update({
            email_verified_at: trx.fn.now(),
            updated_at: trx.fn.now(),
            ...(pending ? { status: 'active', disabled_at: null, profile: JSON.stringify(profile) } : {}),
          });
        await recordAudit(trx, {
          action: 'user.email_verified',
          actor: { type: 'user', id: user.id },
          outcome: 'success',
          target: { type: 'user', id: user.id },
          tenantId: record.tenantId ?? undefined,
          ...meta,
          details: { activated: pending },
        });
        return result;
      });
      if (!outcome.ok) return invalid(ctx, outcome.reason);
      const uid = typeof outcome.record.context.uid === 'string' ? outcome.record.context.uid : '';
      const tr = translatorFor(ctx);
      sendPage(ctx, verifyDonePage(tr, UID_PATTERN.test(uid) ? { signInHref: `${deps.prefix}/interaction/${uid}` } : {}), {
        t: tr,
        assetsBase: deps.prefix,
      });
    },
  );
}
