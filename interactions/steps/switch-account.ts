import { redirect303 } from '../redirect.ts';
import type { Step } from '../step.ts';

/**
 * `POST …/switch-account`: start again with another email (also leaves a step-up for a full
 * sign-in, and turns an account selection into a sign-in).
 */
export const switchAccountStep: Step = {
  path: 'switch-account',
  async post(ctx, flow) {
    if (flow.prompt.name !== 'login' && flow.prompt.name !== 'select_account') return redirect303(ctx, flow.url());
    flow.state = { amr: [], fullLogin: true };
    await flow.save();
    redirect303(ctx, flow.url('identifier'));
  },
};
