import { nextLoginStep, signingIn } from '../login.ts';
import { redirect303 } from '../redirect.ts';
import { clearState } from '../state.ts';
import type { Step } from '../step.ts';

/**
 * `POST …/abort`: the person cancels. The client gets `access_denied`, or
 * `unmet_authentication_requirements` when the sign-in could not meet what was required.
 */
export const abortStep: Step = {
  path: 'abort',
  async post(ctx, flow) {
    const unmet = signingIn(flow) && nextLoginStep(flow) === 'unmet';
    const result = unmet
      ? { error: 'unmet_authentication_requirements', error_description: 'the required authentication could not be performed' }
      : { error: 'access_denied', error_description: 'End-User aborted interaction' };
    await clearState(flow.deps.store, flow.uid);
    const returnTo = await flow.deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    redirect303(ctx, returnTo, [new URL(flow.deps.issuer).origin]);
  },
};
