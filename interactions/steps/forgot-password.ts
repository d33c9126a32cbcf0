import { issueToken } from '../../src/identity/one-time-tokens.ts';
import { renderMail } from '../../src/mail/render.ts';
import { messagePage } from '../../views/pages/message.ts';
import { resetRequestPage, resetSentPage } from '../../views/pages/password-reset.ts';
import type { Flow } from '../flow.ts';
import { signingIn } from '../login.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';

/** Lifetime of a reset link (ADR-0013 default: 30 minutes). */
const RESET_TTL_S = 1800;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/** Issues and mails a reset link for an active account; nothing for an unknown one. Errors are logged. */
async function sendResetLink(flow: Flow, email: string, meta: ReturnType<Flow['requestMeta']>): Promise<void> {
  const { db, mailer, issuer } = flow.deps;
  const user = await db('users')
    .whereRaw('lower(email) = lower(?)', [email])
    // A pending self sign-up too: the reset link proves the mailbox, so its owner can take the address back.
    .where((q) => q.where({ status: 'active' }).orWhere((p) => p.where({ status: 'disabled' }).whereRaw("profile->>'signup' = 'pending'")))
    .whereNull('deleted_at')
    .first('id', 'email', 'display_name');
  if (!user?.email) return;
  const issued = await issueToken(
    db,
    {
      purpose: 'password_reset',
      email: user.email,
      userId: user.id,
      ...(flow.client.tenantId ? { tenantId: flow.client.tenantId } : {}),
      ttlSeconds: RESET_TTL_S,
      context: { uid: flow.uid },
      supersede: true,
    },
    { ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId },
  );
  const mail = renderMail(
    'password_reset',
    { token: issued.token, expiresInMinutes: RESET_TTL_S / 60, displayName: user.display_name ?? null },
    { issuer, productName: flow.tr.t('layout.product'), locale: flow.tr.locale },
  );
  await mailer.send({ to: user.email, ...mail });
}

/**
 * "Forgot your password?" (linked from the password page). GET: the address form; POST: the
 * same "check your email" page for every well-formed address — known or not, within the request
 * budget or not (the `magic_link` request throttle, keyed `password-reset:<address>` and per
 * source). The mail goes out after the response is decided, so timing does not tell either.
 */
export const forgotPasswordStep: Step = {
  path: 'forgot-password',
  async get(ctx, flow) {
    if (!signingIn(flow)) return redirect303(ctx, flow.url());
    flow.render(ctx, resetRequestPage({ ...flow.model('forgot-password'), email: flow.state.email, backHref: flow.url() }));
  },
  async post(ctx, flow) {
    if (!signingIn(flow)) return redirect303(ctx, flow.url());
    const email = (formField(ctx, 'email', 320) ?? '').trim();
    if (!EMAIL.test(email)) {
      const errors = [{ field: 'email', message: flow.tr.t('identifier.error_email') }];
      return flow.render(ctx, resetRequestPage({ ...flow.model('forgot-password', errors), email, backHref: flow.url() }), 400);
    }
    const meta = flow.requestMeta(ctx);
    const decision = await flow.deps.passwords.throttle.check({ factor: 'magic_link', account: `password-reset:${email}`, ip: meta.ip });
    if (!decision.allowed && decision.reason === 'unavailable') {
      ctx.set('Retry-After', String(decision.retryAfterSeconds));
      return flow.render(ctx, messagePage(flow.tr, 'unavailable.title', 'unavailable.body'), 503);
    }
    if (decision.allowed) {
      sendResetLink(flow, email, meta).catch((err: unknown) => flow.deps.logger.error({ err }, 'password reset link not sent'));
    } else {
      flow.deps.logger.info({ interaction: flow.uid }, 'password reset request over budget: not sent');
    }
    flow.render(ctx, resetSentPage({ ...flow.model('forgot-password'), email, backHref: flow.url() }));
  },
};
