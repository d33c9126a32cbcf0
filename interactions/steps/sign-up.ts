import { recordAudit } from '../../src/audit/index.ts';
import { issueToken } from '../../src/identity/one-time-tokens.ts';
import { SIGN_UP_VERIFICATION_TTL_S } from '../../src/identity/sign-ups.ts';
import { renderMail } from '../../src/mail/render.ts';
import { enqueueEvent } from '../../src/outbox/index.ts';
import { INVITATION_CLIENT_ID } from '../../src/tenancy/invitation-client.ts';
import { messagePage } from '../../views/pages/message.ts';
import { policyMessageText } from '../../views/pages/password-policy.ts';
import { signUpPage, signUpSentPage } from '../../views/pages/password-reset.ts';
import type { Flow } from '../flow.ts';
import { signingIn } from '../login.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';

const EMAIL = /^[^@\s]+@[^@\s]+$/;
/** Verification links live 24 h (ADR-0013 default); unverified accounts are purged after it. */
const VERIFY_TTL_S = SIGN_UP_VERIFICATION_TTL_S;

/** Self sign-up is offered: the deployment allows it (`auth.self_signup`), the tenant does not refuse it, passwords are allowed. */
const selfSignUpAllowed = (flow: Flow): boolean =>
  flow.deps.selfSignup === true && flow.tenant.selfSignup !== false && flow.tenant.methods.includes('password');

/**
 * The address an invitation sign-in may create an account for, whatever `auth.self_signup` says: an
 * invited person must be able to join without an account. Only through the invitations client, only
 * for the address the landing page put in `login_hint`, and (checked at the POST) only while a live
 * invitation for that address exists — so the client cannot be used as a general sign-up backdoor.
 */
function invitedAddress(flow: Flow): string | undefined {
  if (flow.client.clientId !== INVITATION_CLIENT_ID || !flow.tenant.methods.includes('password')) return undefined;
  const hint = flow.params.login_hint;
  return typeof hint === 'string' && EMAIL.test(hint) && hint.length <= 320 ? hint : undefined;
}

export const signUpAllowed = (flow: Flow): boolean => selfSignUpAllowed(flow) || invitedAddress(flow) !== undefined;

/** Whether this sign-up may create `email`: self sign-up, or the invited address with a pending invitation. */
async function mayCreate(flow: Flow, email: string): Promise<boolean> {
  if (selfSignUpAllowed(flow)) return true;
  const invited = invitedAddress(flow);
  if (!invited || invited.toLowerCase() !== email.toLowerCase()) return false;
  const pending = await flow.deps
    .db('invitations')
    .whereRaw('lower(email) = lower(?)', [email])
    .whereNull('accepted_at')
    .whereNull('revoked_at')
    .where('expires_at', '>', flow.deps.db.fn.now())
    .first('id');
  return pending !== undefined;
}

/**
 * Creates the account — pending: `status = 'disabled'`, `profile.signup = 'pending'`, email not
 * verified, so nobody can sign in to it (password, magic link, reset all need an active account)
 * until the address owner opens the verification link — then mails that link. An address that
 * already has an account gets nothing new (the page says the same either way).
 */
async function createPendingAccount(flow: Flow, email: string, password: string, meta: ReturnType<Flow['requestMeta']>): Promise<void> {
  const { db, mailer, issuer, passwords } = flow.deps;
  const existing = await db('users').whereRaw('lower(email) = lower(?)', [email]).whereNull('deleted_at').first('id');
  if (existing) return;
  const tenantId = flow.client.tenantId ?? undefined;
  const userId = await db.transaction(async (trx) => {
    const [row] = await trx('users')
      .insert({ email, status: 'disabled', disabled_at: trx.fn.now(), profile: JSON.stringify({ signup: 'pending' }) })
      .returning('id');
    const id = row.id as string;
    await passwords.setPassword(trx, id, password, { actor: { type: 'user', id }, via: 'set', hasSecondFactor: false, ...meta });
    await recordAudit(trx, {
      action: 'user.created',
      actor: { type: 'anonymous' },
      outcome: 'success',
      target: { type: 'user', id },
      tenantId,
      ip: meta.ip,
      userAgent: meta.userAgent,
      requestId: meta.requestId,
      details: { via: 'self_signup', pending_verification: true, client_id: flow.client.clientId },
    });
    await enqueueEvent(trx, {
      type: 'com.infranotes.iam.user.created',
      key: id,
      ...(tenantId ? { tenantId } : {}),
      data: { id },
    });
    return id;
  });
  const issued = await issueToken(
    db,
    {
      purpose: 'email_verification',
      email,
      userId,
      ...(tenantId ? { tenantId } : {}),
      ttlSeconds: VERIFY_TTL_S,
      context: { uid: flow.uid, signup: true },
      supersede: true,
    },
    { ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId },
  );
  const mail = renderMail(
    'email_verification',
    { token: issued.token, expiresInMinutes: VERIFY_TTL_S / 60 },
    { issuer, productName: flow.tr.t('layout.product'), locale: flow.tr.locale },
  );
  await mailer.send({ to: email, ...mail });
}

/**
 * "Create an account" (linked from the identifier page where allowed). GET: email + password;
 * POST: the password policy is checked on the page (its verdict depends only on what was typed),
 * then every well-formed request gets the same "check your email" page — new address or taken,
 * within the request budget (`magic_link` throttle keyed `sign-up:<address>`, and per source) or
 * not. The account is created and the mail sent after the response is decided.
 */
export const signUpStep: Step = {
  path: 'sign-up',
  async get(ctx, flow) {
    if (!signingIn(flow) || !signUpAllowed(flow)) return redirect303(ctx, flow.url());
    flow.render(ctx, signUpPage({ ...flow.model('sign-up'), backHref: flow.url() }));
  },
  async post(ctx, flow) {
    if (!signingIn(flow) || !signUpAllowed(flow)) return redirect303(ctx, flow.url());
    const { t } = flow.tr;
    const email = (formField(ctx, 'email', 320) ?? '').trim();
    const password = formField(ctx, 'password', 4096) ?? '';
    const errors: { field: string; message: string }[] = [];
    if (!EMAIL.test(email)) errors.push({ field: 'email', message: t('identifier.error_email') });
    if (password.length === 0) errors.push({ field: 'password', message: t('reset.error_required') });
    else {
      const verdict = flow.deps.passwords.checkPolicy(password, { hasSecondFactor: false, context: { email } });
      if (!verdict.ok) {
        for (const m of verdict.messages) errors.push({ field: 'password', message: policyMessageText(flow.tr, m) });
      }
    }
    if (errors.length > 0) return flow.render(ctx, signUpPage({ ...flow.model('sign-up', errors), email, backHref: flow.url() }), 400);

    const meta = flow.requestMeta(ctx);
    const decision = await flow.deps.passwords.throttle.check({ factor: 'magic_link', account: `sign-up:${email}`, ip: meta.ip });
    if (!decision.allowed && decision.reason === 'unavailable') {
      ctx.set('Retry-After', String(decision.retryAfterSeconds));
      return flow.render(ctx, messagePage(flow.tr, 'unavailable.title', 'unavailable.body'), 503);
    }
    if (decision.allowed && !(await mayCreate(flow, email))) {
      // Same page as a real sign-up: whether an address is invited is not for the form to reveal.
      flow.deps.logger.info({ interaction: flow.uid }, 'invitation sign-up for an address without a live invitation: not processed');
    } else if (decision.allowed) {
      createPendingAccount(flow, email, password, meta).catch((err: unknown) => {
        // A parallel sign-up for the same address loses on the unique index: nothing to do.
        if ((err as { code?: string })?.code === '23505') return;
        flow.deps.logger.error({ err }, 'self sign-up failed');
      });
    } else {
      flow.deps.logger.info({ interaction: flow.uid }, 'sign-up request over budget: not processed');
    }
    flow.render(ctx, signUpSentPage({ ...flow.model('sign-up'), email, backHref: flow.url() }));
  },
};
