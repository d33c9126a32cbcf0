import { interactionPolicy } from 'oidc-provider';
import { acrLevel, requiredAcrLevel } from './acr.ts';
import { iamMetadata } from './client-metadata.ts';
import type { TenantSignInPolicy } from './tenant-policy.ts';

const { Check, base } = interactionPolicy;

/** Reasons our own checks add to the `login` prompt (the sign-in pages read them). */
export const LOGIN_REASONS = {
  /** The session's account can no longer sign in (disabled, deleted): authenticate again. */
  accountUnavailable: 'account_unavailable',
  /** The request (`acr_values`) or the tenant policy needs a stronger class than the session has. */
  mfaRequired: 'mfa_required',
} as const;

/** The parts of the engine context the checks read. */
interface CheckCtx {
  oidc: {
    session: { accountId?: string; acr?: string };
    account?: unknown;
    client?: unknown;
    params: { acr_values?: unknown };
    result?: { login?: { acr?: string } };
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
 * `max_age` and `prompt=login` are the engine's own checks (`max_age`, `login_prompt`).
 */
export function buildInteractionPolicy(opts: { tenantPolicy: (tenantId: string | null) => Promise<TenantSignInPolicy> }) {
  const policy = base();
  const login = policy.get('login');
  if (!login) throw new Error('the engine policy has no login prompt');

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
      const tenant = await opts.tenantPolicy(iamMetadata(oidc.client).tenant_id);
      const required = requiredAcrLevel(oidc.params.acr_values, tenant.mfa);
      const achieved = acrLevel(oidc.result?.login?.acr ?? oidc.session.acr);
      return achieved < required ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  return policy;
}
