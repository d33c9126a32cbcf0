import type Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context, Middleware, Next } from 'koa';
import { consumeToken, invalidateTokens, peekToken } from '../src/identity/one-time-tokens.ts';
import { hasSecondFactorEnrolled } from '../src/identity/passwords.ts';
import { MAIL_LINK_PATHS } from '../src/mail/render.ts';
import { validIp } from '../src/security/index.ts';
import type { FieldError } from '../views/components.ts';
import { sendPage } from '../views/layout.ts';
import { policyMessageText } from '../views/pages/password-policy.ts';
import { resetDonePage, resetFormPage } from '../views/pages/password-reset.ts';
import { createCsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { translatorFor, UID_PATTERN } from './flow.ts';
import { landingFormOk, landingMessage } from './landing.ts';
import { formField } from './step.ts';

/**
 * The landing of an emailed password-reset link (`<issuer>/password/reset?token=…`, ADR-0013).
 * GET only checks the token and shows the form (mail scanners follow links). POST checks the
 * policy first (errors shown, the link stays usable), then — in one transaction — redeems the
 * token, sets the password (`setPassword`: policy again, argon2id, lockout cleared, audited) and
 * invalidates every other outstanding reset and magic link of the account. The reset signs
 * nobody in and skips no second factor: the person goes back to the sign-in pages.
 * Reset links are not bound to a browser (the mail is often read on another device); they only
 * ever change the password, never start a session.
 */

class PolicyRefused extends Error {}

interface ResetUser {
  id: string;
  status: string;
  profile: Record<string, unknown> | null;
  email: string | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
}

async function activeUser(db: Knex | Knex.Transaction, userId: string | null): Promise<ResetUser | undefined> {
  if (!userId) return undefined;
  return db('users')
    .where({ id: userId })
    .where((q) => q.where({ status: 'active' }).orWhere((p) => p.where({ status: 'disabled' }).whereRaw("profile->>'signup' = 'pending'")))
    .whereNull('deleted_at')
    .first('id', 'email', 'display_name', 'given_name', 'family_name', 'status', 'profile');
}

export function passwordResetLanding(router: Router, deps: InteractionDeps, mw: { errors: Middleware; parseForm: Middleware }): void {
  const path = `${deps.prefix}${MAIL_LINK_PATHS.password_reset}`;
  const csrf = createCsrfTokens(deps.cookieKeys);
  const csrfSubject = (token: string) => `password-reset\0${token}`;
  const page = landingMessage(deps);
  const invalid = (ctx: Context, reason: string) =>
    page(ctx, 'reset.invalid_title', 'reset.invalid_body', reason === 'invalid' ? 400 : 410);
  const form = (ctx: Context, token: string, email: string, errors?: FieldError[], status = 200) => {
    const tr = translatorFor(ctx);
    sendPage(ctx, resetFormPage(tr, { action: path, csrf: csrf.issue(csrfSubject(token)), token, email, errors }), {
      t: tr,
      assetsBase: deps.prefix,
      status,
    });
  };

  router.get(path, mw.errors, async (ctx: Context) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const peek = await peekToken(deps.db, { purpose: 'password_reset', token });
    if (!peek.ok) return invalid(ctx, peek.reason);
    form(ctx, token, peek.record.email);
  });

  router.post(
    path,
    mw.errors,
    (ctx: Context, next: Next) => mw.parseForm(ctx, next),
    async (ctx: Context) => {
      const token = formField(ctx, 'token', 64) ?? '';
      if (!landingFormOk(ctx, deps, csrf, csrfSubject(token))) {
        deps.logger.warn({ path: ctx.path }, 'password reset form rejected (CSRF)');
        return page(ctx, 'csrf.title', 'csrf.body', 403);
      }
      const tr = translatorFor(ctx);
      const peek = await peekToken(deps.db, { purpose: 'password_reset', token });
      if (!peek.ok) return invalid(ctx, peek.reason);
      const user = await activeUser(deps.db, peek.record.userId);
      if (!user) return invalid(ctx, 'invalid');

      const password = formField(ctx, 'password', 4096) ?? '';
      if (password.length === 0)
        return form(ctx, token, peek.record.email, [{ field: 'password', message: tr.t('reset.error_required') }], 400);
      const hasSecondFactor = await hasSecondFactorEnrolled(deps.db, user.id);
      const verdict = deps.passwords.checkPolicy(password, {
        hasSecondFactor,
        context: { email: user.email, displayName: user.display_name, givenName: user.given_name, familyName: user.family_name },
      });
      if (!verdict.ok) {
        // Each reason through the message catalogue, in the page's language.
        const errors = verdict.messages.map((m) => ({ field: 'password', message: policyMessageText(tr, m) }));
        return form(ctx, token, peek.record.email, errors, 400);
      }

      const meta = {
        ip: validIp(ctx.ip),
        userAgent: ctx.get('user-agent') || undefined,
        requestId: ctx.state.requestId as string | undefined,
      };
      const outcome = await deps.db
        .transaction(async (trx) => {
          const result = await consumeToken(trx, { purpose: 'password_reset', token }, meta);
          if (!result.ok) return result;
          if (result.record.userId !== user.id) throw new PolicyRefused('token changed hands');
          await deps.passwords.setPassword(trx, user.id, password, {
            actor: { type: 'user', id: user.id },
            via: 'reset',
            hasSecondFactor,
            ...meta,
            ...(result.record.tenantId ? { tenantId: result.record.tenantId } : {}),
          });
          await invalidateTokens(trx, { userId: user.id, purposes: ['password_reset', 'magic_link'] }, meta);
          if (user.status !== 'active') {
            // A pending self sign-up: the reset link proved the mailbox — the address is verified and
            // the account active, with the password its owner just chose (whoever signed up before).
            const { signup: _, ...profile } = user.profile ?? {};
            await trx('users')
              .where({ id: user.id })
              .update({
                status: 'active',
                disabled_at: null,
                email_verified_at: trx.fn.now(),
                updated_at: trx.fn.now(),
                profile: JSON.stringify(profile),
              });
            await invalidateTokens(trx, { userId: user.id, purposes: ['email_verification'] }, meta);
          }
          return result;
        })
        .catch((err: unknown) => {
          if (err instanceof PolicyRefused) return { ok: false as const, reason: 'invalid' as const };
          throw err;
        });
      if (!outcome.ok) return invalid(ctx, outcome.reason);

      const uid = typeof outcome.record.context.uid === 'string' ? outcome.record.context.uid : '';
      sendPage(ctx, resetDonePage(tr, UID_PATTERN.test(uid) ? { signInHref: `${deps.prefix}/interaction/${uid}` } : {}), {
        t: tr,
        assetsBase: deps.prefix,
      });
    },
  );
}
