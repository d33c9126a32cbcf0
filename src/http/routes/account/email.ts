import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { MessageKey } from '../../../../views/i18n.ts';
import { sendPage } from '../../../../views/layout.ts';
import { accountMessagePage } from '../../../../views/pages/account-common.ts';
import { accountEmailPage, accountEmailSentPage, emailChangeConfirmPage } from '../../../../views/pages/account-email.ts';
import { confirmEmailChange, peekEmailChange, requestEmailChange, sendEmailChangeLink, sendNotice } from '../../../account/index.ts';
import { MAIL_LINK_PATHS } from '../../../mail/render.ts';
import { type AccountCsrf, sameOriginRequest } from './csrf.ts';
import type { AccountDeps } from './deps.ts';
import { requestMeta, translatorFor } from './request.ts';
import { type AccountRoute, formField } from './route.ts';

export const emailRoutes: AccountRoute[] = [
  {
    method: 'GET',
    path: 'email',
    section: 'email',
    async handler(_ctx, a) {
      if (!a.requireRecent('email')) return;
      a.render(accountEmailPage(a.model()));
    },
  },
  {
    method: 'POST',
    path: 'email',
    section: 'email',
    async handler(ctx, a) {
      if (!a.requireRecent('email')) return;
      const typed = formField(ctx, 'email', 1024) ?? '';
      const result = await requestEmailChange(a.deps.db, { userId: a.user.id, newEmail: typed }, a.meta);
      const refuse = (message: string, status: number) =>
        a.render(accountEmailPage({ ...a.model([{ field: 'email', message }]), value: typed.slice(0, 320) }), status);
      if (result.status !== 'requested') {
        if (result.status === 'too_many') return refuse(a.tr.t('account.email.error_too_many'), 429);
        return refuse(a.tr.t(result.status === 'invalid' ? 'identifier.error_email' : 'account.email.error_same'), 400);
      }
      if (result.mail) await sendEmailChangeLink(a.deps.mail, result.mail);
      a.render(accountEmailSentPage({ ...a.model(), newEmail: typed.trim() }));
    },
  },
];

/**
 * The landing behind the emailed link (`<issuer>/email/change/confirm?token=…`): GET checks the
 * token and shows a button (never consumes: mail scanners follow links); POST (CSRF token bound
 * to the link's token) applies the change and tells the old address. Nobody needs to be signed
 * in: the link itself proves the new mailbox, and it was asked for after a recent sign-in.
 */
export function emailChangeLanding(
  router: Router,
  deps: AccountDeps,
  csrf: AccountCsrf,
  mw: { errors: Middleware; parseForm: Middleware },
): void {
  const path = `${deps.prefix}${MAIL_LINK_PATHS.email_change}`;
  const subject = (token: string) => `email-change\0${token}`;
  const message = (ctx: Context, title: MessageKey, body: string, status: number) => {
    const tr = translatorFor(ctx);
    sendPage(ctx, accountMessagePage({ title: tr.t(title), body, link: { href: `${deps.prefix}/account`, label: tr.t('account.back') } }), {
      t: tr,
      assetsBase: deps.prefix,
      status,
    });
  };
  const invalid = (ctx: Context, reason: string) =>
    message(
      ctx,
      'account.email_confirm.invalid_title',
      translatorFor(ctx).t(
        reason === 'address_taken' || reason === 'stale' ? 'account.email_confirm.refused_body' : 'account.email_confirm.invalid_body',
      ),
      reason === 'invalid' ? 400 : reason === 'address_taken' || reason === 'stale' ? 409 : 410,
    );

  router.get(path, mw.errors, async (ctx: Context) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const peek = await peekEmailChange(deps.db, token);
    if (!peek.ok) return invalid(ctx, peek.reason);
    const tr = translatorFor(ctx);
    sendPage(ctx, emailChangeConfirmPage(tr, { action: path, csrf: csrf.issue(subject(token)), token, email: peek.newEmail }), {
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
      if (!sameOriginRequest(ctx, deps.issuer) || !csrf.verify(subject(token), formField(ctx, 'csrf', 64))) {
        deps.logger.warn({ path: ctx.path }, 'email change form rejected (CSRF)');
        return message(ctx, 'csrf.title', translatorFor(ctx).t('account.csrf.body'), 403);
      }
      const result = await confirmEmailChange(deps.db, token, requestMeta(ctx));
      if (!result.ok) return invalid(ctx, result.reason);
      await sendNotice(deps.mail, 'email_changed', result.oldEmail, result.displayName);
      message(
        ctx,
        'account.email_confirm.done_title',
        translatorFor(ctx).t('account.email_confirm.done_body', { email: result.newEmail }),
        200,
      );
    },
  );
}
