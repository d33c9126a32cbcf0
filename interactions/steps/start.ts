import { completeLogin, nextLoginStep, prepareLoginState, signingIn } from '../login.ts';
import { redirect303 } from '../redirect.ts';
import type { Step } from '../step.ts';

/** `GET /interaction/:uid` — where the engine sends the browser: on to the page that is due. */
export const startStep: Step = {
  path: '',
  async get(ctx, flow) {
    if (flow.prompt.name === 'consent') return redirect303(ctx, flow.url('consent'));
    if (flow.prompt.name === 'select_tenant') return redirect303(ctx, flow.url('tenant'));
    if (flow.prompt.name === 'select_account' && !signingIn(flow)) return redirect303(ctx, flow.url('select-account'));
    if (!signingIn(flow)) throw new Error(`unsupported prompt ${flow.prompt.name}`);
    await prepareLoginState(flow);
    const next = nextLoginStep(flow);
    if (next === 'complete') return completeLogin(ctx, flow);
    redirect303(ctx, flow.url(next));
  },
};
