import { SELECT_ACCOUNT_REASONS } from '../../src/oidc/interaction-policy.ts';
import { selectAccountPage } from '../../views/pages/select-account.ts';
import type { Flow } from '../flow.ts';
import { signingIn } from '../login.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';
import { parseEmail } from './identifier.ts';

/** The signed-in account's email, or undefined when it can no longer sign in (then: sign in afresh). */
async function sessionEmail(flow: Flow): Promise<string | undefined> {
  const id = flow.session?.accountId;
  if (!id) return undefined;
  const row = await flow.deps.db('users').where({ id, status: 'active' }).whereNull('deleted_at').first('email');
  return row?.email ?? undefined;
}

/** This page serves the account selection prompt until the person chose to sign in as someone else. */
const selecting = (flow: Flow) => flow.prompt.name === 'select_account' && !signingIn(flow);

/**
 * Account selection (the `select_account` prompt, src/oidc/interaction-policy.ts): "Continue as
 * <signed-in account>" ends the prompt and the authorization request goes on with the session;
 * "Sign in with a different account" (`switch-account`) turns the interaction into a sign-in, whose
 * login also settles the selection.
 */
export const selectAccountStep: Step = {
  path: 'select-account',
  async get(ctx, flow) {
    if (!selecting(flow)) return redirect303(ctx, flow.url());
    const email = await sessionEmail(flow);
    if (!email) return redirect303(ctx, flow.url('identifier'));
    const hint = flow.prompt.reasons.includes(SELECT_ACCOUNT_REASONS.hintMismatch) ? parseEmail(flow.params.login_hint) : undefined;
    flow.render(
      ctx,
      selectAccountPage({ ...flow.model('select-account'), email, ...(hint ? { hint } : {}), switchAction: flow.url('switch-account') }),
    );
  },
  async post(ctx, flow) {
    if (!selecting(flow) || formField(ctx, 'decision', 16) !== 'continue') return redirect303(ctx, flow.url());
    // The session's account must still be able to sign in; otherwise the login prompt follows anyway.
    if (!(await sessionEmail(flow))) return redirect303(ctx, flow.url());
    const returnTo = await flow.deps
      .provider()
      .interactionResult(ctx.req, ctx.res, { select_account: {} }, { mergeWithLastSubmission: false });
    redirect303(ctx, returnTo, [new URL(flow.deps.issuer).origin]);
  },
};
