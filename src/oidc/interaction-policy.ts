import { interactionPolicy } from 'oidc-provider';
import { acrLevel, requiredAcrLevel } from './acr.ts';
import { iamMetadata } from './client-metadata.ts';
import { type RequestLifetimes, sessionEnded, withOverrides } from './session-lifetimes.ts';
import type { TenantSignInPolicy } from './tenant-policy.ts';

const { Check, Prompt, base } = interactionPolicy;

/** Reasons our own checks add to the `login` prompt (the sign-in pages read them). */
export const LOGIN_REASONS = {
  /** The session's account can no longer sign in (disabled, deleted): authenticate again. */
  accountUnavailable: 'account_unavailable',
  /** The request (`acr_values`) or the tenant policy needs a stronger class than the session has. */
  mfaRequired: 'mfa_required',
  /** The session passed its idle or absolute lifetime for this client's tenant (ADR-0019): sign in again. */
  sessionEnded: 'session_ended',
} as const;

/** Reasons of the `select_account` prompt (the account selection page reads them). */
export const SELECT_ACCOUNT_REASONS = {
  /** The client asked (`prompt=select_account`) and a signed-in session exists. */
  requested: 'select_account_requested',
  /** `login_hint` names another account than the session's. */
  hintMismatch: 'login_hint_mismatch',
} as const;

/** The `login_hint` as an email address to compare (lower case), when it is one. */
const hintedEmail = (hint: unknown): string | undefined =>
  typeof hint === 'string' && hint.length <= 320 && /^[^@\s]+@[^@\s]+$/.test(hint.trim()) ? hint.trim().toLowerCase() : undefined;

/** The parts of the engine context the checks read. */
interface CheckCtx {
  oidc: {
    session: { accountId?: string; acr?: string; loginTs?: number; iat?: number };
    account?: { claims?(use: string, scope: string, claims: object, rejected: string[]): Promise<{ email?: unknown }> };
    client?: unknown;
    params: { acr_values?: unknown; login_hint?: unknown };
    prompts: Set<string>;
    promptPending(name: string): boolean;
    result?: { login?: { acr?: string }; consent?: unknown; select_account?: unknown };
  };
}

/**
 * The engine's default prompts (login, then consent) plus two login checks:
 *
 * - `account_unavailable`: a session whose account `findAccount` no longer returns (a disabled
 *   user) is sent through sign-in again instead of reaching consent or a code;
 * - `mfa_required`: step-up. The level the request needs (`acr_values`, the weakest listed known
 *   class; at least the client's tenant MFA policy) is compared with the `acr` of the session (or
 *   of the login just finished): when it is lower the login prompt is requested again, and the
 *   sign-in pages ask only for the missing factor.
 *
 * - `session_ended`: the session is older than the absolute lifetime, or has been idle longer than
 *   the idle lifetime, of the client's tenant (ADR-0019). The deployment's own lifetimes also
 *   expire the stored session; this check covers a tenant stricter than the session's last use
 *   assumed. It also records the tenant's lifetimes for the session save that ends the request.
 *
 * `max_age` and `prompt=login` are the engine's own checks (`max_age`, `login_prompt`).
 *
 * Before them, a `select_account` prompt (account selection page: continue as the signed-in
 * account, or sign in as another) when a signed-in session exists and the client asked for it or
 * its `login_hint` names another account.
 */
export function buildInteractionPolicy(opts: {
  tenantPolicy: (tenantId: string | null) => Promise<TenantSignInPolicy>;
  lifetimes?: RequestLifetimes;
}) {
  const policy = base();
  const login = policy.get('login');
  if (!login) throw new Error('the engine policy has no login prompt');
  // One tenant lookup per request for every check that needs it.
  const tenants = new WeakMap<object, Promise<TenantSignInPolicy>>();
  const tenantOf = (ctx: object): Promise<TenantSignInPolicy> => {
    let found = tenants.get(ctx);
    if (!found) {
      found = opts.tenantPolicy(iamMetadata((ctx as unknown as CheckCtx).oidc.client).tenant_id);
      tenants.set(ctx, found);
    }
    return found;
  };

  login.checks.add(
    new Check(LOGIN_REASONS.accountUnavailable, 'the signed-in account is no longer available', 'login_required', (ctx) => {
      const { oidc } = ctx as unknown as CheckCtx;
      return oidc.session.accountId && !oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  login.checks.add(
    new Check(LOGIN_REASONS.mfaRequired, 'a stronger authentication is required', 'login_required', async (ctx) => {
      const { oidc } = ctx as unknown as CheckCtx;
      // Without a session the no_session check already prompts; the pages work out the factors.
      if (!oidc.session.accountId) return Check.NO_NEED_TO_PROMPT;
      const tenant = await tenantOf(ctx);
      const required = requiredAcrLevel(oidc.params.acr_values, tenant.mfa);
      const achieved = acrLevel(oidc.result?.login?.acr ?? oidc.session.acr);
      return achieved < required ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  policy.add(selectAccountPrompt(), 0);

  const lifetimes = opts.lifetimes;
  if (lifetimes) {
    login.checks.add(
      new Check(LOGIN_REASONS.sessionEnded, 'the session reached its idle or absolute lifetime', 'login_required', async (ctx) => {
        const { oidc } = ctx as unknown as CheckCtx;
        const effective = withOverrides(lifetimes.defaults, (await tenantOf(ctx)).session);
        lifetimes.remember(ctx, effective);
        // No session, or an interaction (sign-in, consent) just finished: the person is here, nothing to end.
        if (!oidc.session.accountId || oidc.result) return Check.NO_NEED_TO_PROMPT;
        return sessionEnded(effective, oidc.session, Math.floor(Date.now() / 1000)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    );
  }

  return policy;
}

/**
 * `select_account`, evaluated before `login`: requestable (`prompt=select_account`, advertised in
 * discovery) but only prompted when there is a signed-in account to select — without one the login
 * prompt does the asking — and also when `login_hint` names an email other than the session's
 * account's. The interaction ends with `{ select_account: {} }` (continue) or with a login of the
 * account chosen, which carries `select_account: {}` too (interactions/login.ts).
 */
function selectAccountPrompt() {
  const prompt = new Prompt({ name: 'select_account', requestable: true });
  // The engine's own requestable check also fires without a session; ours replaces it.
  prompt.checks.remove('select_account_prompt');
  prompt.checks.add(
    new Check(SELECT_ACCOUNT_REASONS.requested, 'account selection was requested', 'account_selection_required', (ctx) => {
      const { oidc } = ctx as unknown as CheckCtx;
      return Boolean(oidc.session.accountId && oidc.prompts.has('select_account') && oidc.promptPending('select_account'));
    }),
  );
  prompt.checks.add(
    new Check(SELECT_ACCOUNT_REASONS.hintMismatch, 'login_hint names another account', 'account_selection_required', async (ctx) => {
      const { oidc } = ctx as unknown as CheckCtx;
      const hint = hintedEmail(oidc.params.login_hint);
      // Settled once the person chose in this interaction (continued, or signed in as someone).
      if (!hint || !oidc.session.accountId || oidc.result?.select_account || oidc.result?.login || !oidc.account?.claims) {
        return Check.NO_NEED_TO_PROMPT;
      }
      // prompt=login signs in afresh anyway (the identifier page offers the hinted address).
      if (oidc.prompts.has('login')) return Check.NO_NEED_TO_PROMPT;
      const claims = await oidc.account.claims('id_token', 'openid email', {}, []);
      const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined;
      return email !== hint ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return prompt;
}
