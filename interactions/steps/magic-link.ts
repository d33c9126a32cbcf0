import type { Context } from 'koa';
import { generateBrowserBinding, issueToken } from '../../src/identity/one-time-tokens.ts';
import { renderMail } from '../../src/mail/render.ts';
import { magicLinkSentPage } from '../../views/pages/magic-link.ts';
import { messagePage } from '../../views/pages/message.ts';
import type { Flow } from '../flow.ts';
import { advance, secondFactorsOf, signingIn } from '../login.ts';
import { bindingOf, setBindingCookie, takeHandover } from '../magic-link.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';
import { atLoginStep } from './guard.ts';
import { parseEmail, renderIdentifier } from './identifier.ts';

/** Lifetime of a magic link (ADR-0013: at most 10 minutes). */
const MAGIC_LINK_TTL_S = 600;

/**
 * Issues and mails the link for an active account (nothing for an unknown one). Runs after the
 * response was decided so that its database write and SMTP round trip do not make known
 * addresses measurably slower than unknown ones; failures are logged, never shown.
 */
async function sendMagicLink(flow: Flow, email: string, binding: string, meta: ReturnType<Flow['requestMeta']>): Promise<void> {
  const { db, mailer, issuer } = flow.deps;
  const user = await db('users')
    .whereRaw('lower(email) = lower(?)', [email.trim()])
    .where({ status: 'active' })
    .whereNull('deleted_at')
    .first('id', 'email', 'display_name');
  if (!user?.email) return;
  const issued = await issueToken(
    db,
    {
      purpose: 'magic_link',
      email: user.email,
      userId: user.id,
      ...(flow.client.tenantId ? { tenantId: flow.client.tenantId } : {}),
      ttlSeconds: MAGIC_LINK_TTL_S,
      browserBinding: binding,
      context: { uid: flow.uid, formTargets: [...flow.formTargets] },
      supersede: true,
    },
    { ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId },
  );
  const mail = renderMail(
    'magic_link',
    { token: issued.token, expiresInMinutes: MAGIC_LINK_TTL_S / 60, displayName: user.display_name ?? null },
    { issuer, productName: flow.tr.t('layout.product'), locale: flow.tr.locale },
  );
  await mailer.send({ to: user.email, ...mail });
}

/** The tenant allows sign-in links but no passwords: the identifier page asks for the link itself. */
const passwordless = (flow: Flow) => !flow.tenant.methods.includes('password');

/**
 * "Email me a sign-in link" (offered on the password page where the tenant allows `magic_link`, and
 * as the identifier page's own form where it allows no passwords).
 * POST: the request budget (`magic_link` throttle, per address and per source) is charged, the
 * browser gets its binding cookie, and — only for an active account within budget — a link is
 * mailed. Every outcome shows the same "check your email" page (no enumeration, throttling not
 * revealed). GET: where the link's landing hands over after redemption in this browser.
 */
export const magicLinkStep: Step = {
  path: 'magic-link',
  async get(ctx, flow) {
    const handover = flow.tenant.methods.includes('magic_link') ? await takeHandover(flow.deps, flow.uid) : undefined;
    if (!handover || !signingIn(flow)) return redirect303(ctx, flow.url());
    flow.state = {
      email: handover.email,
      userId: handover.userId,
      amr: ['email'],
      factors: await secondFactorsOf(flow, handover.userId),
      ...(flow.state.fullLogin ? { fullLogin: true } : {}),
    };
    await advance(ctx, flow);
  },
  async post(ctx, flow) {
    if (!flow.tenant.methods.includes('magic_link')) return redirect303(ctx, flow.url());
    if (!(await atLoginStep(ctx, flow, passwordless(flow) ? ['identifier'] : ['password']))) return;
    let email = flow.state.email ?? '';
    if (passwordless(flow)) {
      // The identifier page's form: the address comes with the request.
      const typed = formField(ctx, 'email', 1024);
      const parsed = parseEmail(typed);
      if (!parsed) {
        return renderIdentifier(ctx, flow, {
          email: typed?.slice(0, 320),
          errors: [{ field: 'email', message: flow.tr.t('identifier.error_email') }],
        });
      }
      email = parsed;
      flow.state = { ...flow.state, email };
      await flow.save();
    }
    const binding = bindingOf(ctx, flow.deps) ?? generateBrowserBinding();
    const meta = flow.requestMeta(ctx);
    const decision = await flow.deps.passwords.throttle.check({ factor: 'magic_link', account: email, ip: meta.ip });
    if (!decision.allowed && decision.reason === 'unavailable') {
      // The store is down: refuse (fail closed) — this says nothing about the account.
      ctx.set('Retry-After', String(decision.retryAfterSeconds));
      return flow.render(ctx, messagePage(flow.tr, 'unavailable.title', 'unavailable.body'), 503);
    }
    setBindingCookie(ctx, flow.deps, binding);
    if (decision.allowed) {
      sendMagicLink(flow, email, binding, meta).catch((err: unknown) => flow.deps.logger.error({ err }, 'magic link not sent'));
    } else {
      flow.deps.logger.info({ interaction: flow.uid }, 'magic link request over budget: not sent');
    }
    renderSent(ctx, flow, email);
  },
};

function renderSent(ctx: Context, flow: Flow, email: string): void {
  const back = flow.url(passwordless(flow) ? 'identifier' : 'password');
  flow.render(ctx, magicLinkSentPage({ ...flow.model('magic-link'), email, backHref: back }));
}
