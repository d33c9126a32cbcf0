import type { Context } from 'koa';
import type { Flow } from '../flow.ts';
import { type LoginStep, nextLoginStep, prepareLoginState, signingIn } from '../login.ts';
import { redirect303 } from '../redirect.ts';

/**
 * True when `ctx` may be handled as one of `steps` of the login; otherwise the browser is sent
 * (303) to the page that is due — a page reached out of order or replayed after the fact does
 * nothing. Recovery codes (and a passkey, when the account has one) stand in for TOTP wherever TOTP is due.
 */
export async function atLoginStep(ctx: Context, flow: Flow, steps: readonly LoginStep[]): Promise<boolean> {
  if (!signingIn(flow)) {
    redirect303(ctx, flow.url());
    return false;
  }
  await prepareLoginState(flow);
  const due = nextLoginStep(flow);
  const allowed =
    (due !== 'complete' && steps.includes(due)) ||
    (due === 'totp' && (steps.includes('recovery-code') || (steps.includes('passkey') && (flow.state.factors ?? []).includes('passkey'))));
  if (allowed) return true;
  redirect303(ctx, flow.url(due === 'complete' ? '' : due));
  return false;
}
