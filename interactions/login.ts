import type { Context } from 'koa';
import type { AuditEvent } from '../src/audit/index.ts';
import { applyPasswordVerified } from '../src/identity/index.ts';
import { getTotpCredential } from '../src/mfa/index.ts';
import { ACR_LEVEL, acrForAmr, acrLevel, normalizeAmr, requiredAcrLevel } from '../src/oidc/acr.ts';
import { LOGIN_REASONS } from '../src/oidc/interaction-policy.ts';
import { countPasskeys } from '../src/webauthn/index.ts';
import type { Flow } from './flow.ts';
import { redirect303 } from './redirect.ts';
import { applySignInWrites, type SignInWrites } from './sign-in-writes.ts';
import { clearState } from './state.ts';

/**
 * The login prompt as a sequence of steps. Which page comes next depends only on what the
 * interaction has established (`flow.state`), the account's second factors and what the request
 * and the tenant require — so every page can be reloaded, and a step reached out of order is
 * sent back to the one that is due.
 */
export type LoginStep = 'identifier' | 'password' | 'totp' | 'recovery-code' | 'passkey' | 'unmet' | 'no-method';

/** Second factors the account can use at sign-in: TOTP, and passkeys where this issuer can offer them. */
export async function secondFactorsOf(flow: Flow, userId: string): Promise<string[]> {
  const factors = (await getTotpCredential(flow.deps.db, userId)) ? ['totp'] : [];
  if (passkeysAvailable(flow) && (await countPasskeys(flow.deps.db, userId)) > 0) factors.push('passkey');
  return factors;
}

/**
 * The interaction is signing someone in: the login prompt, or the account selection prompt once
 * the person chose "a different account" (`fullLogin`). Every sign-in page checks this.
 */
export const signingIn = (flow: Flow): boolean =>
  flow.prompt.name === 'login' || (flow.prompt.name === 'select_account' && flow.state.fullLogin === true);

/** Passkeys work on this issuer (a `localhost` or https host, ADR-0014) and the tenant allows them. */
export const passkeysAvailable = (flow: Flow): boolean =>
  !!flow.deps.passkeys?.relyingParty.available && flow.tenant.methods.includes('passkey');

/**
 * Step-up: the request came with a signed-in session and the only unmet login check is ours
 * (`mfa_required`), so the session's first factor stands and only a second one is asked for.
 * Anything else — no session, `prompt=login`, `max_age` passed, another account hinted — is a
 * full sign-in.
 */
export function isStepUp(flow: Flow): boolean {
  return (
    flow.prompt.name === 'login' &&
    !!flow.session?.accountId &&
    !flow.state.fullLogin &&
    flow.prompt.reasons.length > 0 &&
    flow.prompt.reasons.every((r) => r === LOGIN_REASONS.mfaRequired)
  );
}

/** Fills a fresh step-up state from the session (once per interaction). */
export async function prepareLoginState(flow: Flow): Promise<void> {
  if (flow.state.userId || !isStepUp(flow) || !flow.session) return;
  const user = await flow.deps.db('users').where({ id: flow.session.accountId, status: 'active' }).whereNull('deleted_at').first('email');
  if (!user) return;
  flow.state = {
    email: user.email ?? undefined,
    userId: flow.session.accountId,
    amr: [...(flow.session.amr ?? [])],
    factors: await secondFactorsOf(flow, flow.session.accountId),
    stepUp: true,
  };
  await flow.save();
}

/**
 * What the identifier page's email form does: continue to the password page; where the tenant
 * allows no passwords, ask for a sign-in link right away (the form posts to the magic-link step);
 * with neither, there is no form (passkeys only).
 */
export function identifierForm(flow: Flow): { emailForm: 'continue' | 'magic_link' | 'none'; action?: string } {
  if (flow.tenant.methods.includes('password')) return { emailForm: 'continue' };
  if (flow.tenant.methods.includes('magic_link')) return { emailForm: 'magic_link', action: flow.url('magic-link') };
  return { emailForm: 'none' };
}

/** The level this request needs: its `acr_values`, at least the tenant's MFA policy. */
export const requiredLevel = (flow: Flow): number => requiredAcrLevel(flow.params.acr_values, flow.tenant.mfa);

export function nextLoginStep(flow: Flow): LoginStep | 'complete' {
  const s = flow.state;
  if (!s.userId) {
    const passwords = flow.tenant.methods.includes('password');
    // Without passwords the identifier page is where the other ways in start (a sign-in link, a passkey).
    if (!passwords && !flow.tenant.methods.includes('magic_link') && !passkeysAvailable(flow)) return 'no-method';
    return s.email && passwords ? 'password' : 'identifier';
  }
  const achieved = acrLevel(acrForAmr(s.amr));
  const required = requiredLevel(flow);
  const factors = s.factors ?? [];
  const hasSecond = s.amr.includes('otp') || s.amr.includes('hwk') || s.amr.includes('swk');
  // A second factor the user set up is always used; one the request or tenant needs must exist.
  if (achieved >= required && (hasSecond || factors.length === 0)) return 'complete';
  const hasPasskey = s.amr.includes('hwk') || s.amr.includes('swk');
  // Phishing-resistant is only reachable with a passkey (user verification required at its step).
  if (required > ACR_LEVEL['urn:infranotes:acr:mfa']) return !hasPasskey && factors.includes('passkey') ? 'passkey' : 'unmet';
  if (!hasSecond && factors.includes('totp')) return 'totp';
  if (!hasSecond && factors.includes('passkey')) return 'passkey';
  return 'unmet';
}

/** Runs the step's deferred writes (one transaction), if any are left. */
export async function flushDeferred(flow: Flow): Promise<void> {
  const writes = flow.deferred.splice(0);
  if (writes.length === 0) return;
  await flow.deps.db.transaction(async (trx) => {
    for (const write of writes) await applyPasswordVerified(trx, write);
  });
}

/** After a step succeeded: the next page, or the end of the login. */
export async function advance(ctx: Context, flow: Flow): Promise<void> {
  const next = nextLoginStep(flow);
  if (next === 'complete') return completeLogin(ctx, flow);
  await flushDeferred(flow);
  await flow.save();
  redirect303(ctx, flow.url(next));
}

/**
 * Hands the login to the engine — `{ accountId, acr, amr, ts }` — and sends the browser back to
 * the authorization request. The session id rotates when the engine resumes. A step-up keeps the
 * session's sign-in time (a second factor proves presence, not a fresh first factor).
 *
 * Everything the sign-in writes on success — the step's deferred writes (the password's audit
 * row, a counter reset), `last_login_at` and `auth.signin.succeeded` — is left for the resume
 * request, whose one transaction also stores the engine's Session and Grant (DESIGN §7: one
 * PostgreSQL write per completed login; interactions/sign-in-writes.ts, ADR-0015). A rehash, or a
 * store that cannot take them, writes them here at once instead, in one transaction.
 */
export async function completeLogin(ctx: Context, flow: Flow): Promise<void> {
  const { state, deps } = flow;
  const accountId = state.userId as string;
  const amr = normalizeAmr(state.amr);
  const acr = acrForAmr(amr);
  let ts = Math.floor(Date.now() / 1000);
  if (state.stepUp && flow.session?.uid) {
    const session = await deps.provider().Session.findByUid(flow.session.uid);
    if (session?.loginTs) ts = session.loginTs;
  }
  const meta = flow.requestMeta(ctx);
  const audit: AuditEvent = {
    action: 'auth.signin.succeeded',
    actor: { type: 'user', id: accountId },
    outcome: 'success',
    target: { type: 'user', id: accountId },
    tenantId: meta.tenantId,
    ip: meta.ip,
    userAgent: meta.userAgent,
    requestId: meta.requestId,
    details: { client_id: flow.client.clientId, acr, amr, step_up: Boolean(state.stepUp), interaction: flow.uid },
  };
  const writes: SignInWrites = {
    interaction: flow.uid,
    userId: accountId,
    at: new Date().toISOString(),
    password: flow.deferred.splice(0),
    audit,
  };
  await leaveForResume(flow, writes);
  await clearState(deps.store, flow.uid);
  // Signing in answers an account selection too (asked for, or the prompt this interaction serves).
  const selected =
    flow.prompt.name === 'select_account' ||
    String(flow.params.prompt ?? '')
      .split(' ')
      .includes('select_account');
  const returnTo = await deps
    .provider()
    .interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId, acr, amr, ts, remember: true }, ...(selected ? { select_account: {} } : {}) },
      { mergeWithLastSubmission: false },
    );
  redirect303(ctx, returnTo, [new URL(deps.issuer).origin]);
}

/** Leaves the sign-in's writes for the resume request, or writes them now when they cannot wait. */
async function leaveForResume(flow: Flow, writes: SignInWrites): Promise<void> {
  const queue = flow.deps.signInWrites;
  if (queue && !writes.password.some((p) => p.rehash)) {
    try {
      await queue.leave(writes);
      return;
    } catch (err) {
      flow.deps.logger.warn({ err, interaction: flow.uid }, 'sign-in writes could not wait for the resume; written now');
    }
  }
  await flow.deps.db.transaction((trx) => applySignInWrites(trx, writes));
}
