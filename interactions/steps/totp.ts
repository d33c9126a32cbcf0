import { verifyTotp } from '../../src/mfa/index.ts';
import { totpPage } from '../../views/pages/totp.ts';
import type { Flow } from '../flow.ts';
import { formField, type Step } from '../step.ts';
import { atLoginStep } from './guard.ts';
import { mfaContext, verifySecondFactor } from './second-factor.ts';

const page = (flow: Flow, errors?: { field: string; message: string }[]) =>
  totpPage({
    ...flow.model('totp', errors),
    email: flow.state.email,
    recoveryHref: flow.url('recovery-code'),
    ...((flow.state.factors ?? []).includes('passkey') ? { passkeyHref: flow.url('passkey') } : {}),
  });

/** Second factor: a TOTP code (±1 step, each code accepted once — replays fail like wrong codes). */
export const totpStep: Step = {
  path: 'totp',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['totp']))) return;
    flow.render(ctx, page(flow));
  },
  async post(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['totp']))) return;
    await verifySecondFactor(ctx, flow, {
      factor: 'totp',
      amr: 'otp',
      code: formField(ctx, 'code', 32),
      messages: { required: 'totp.error_required', invalid: 'totp.error_invalid', locked: 'totp.error_locked' },
      page: (errors) => page(flow, errors),
      verify: (userId, code) => verifyTotp(flow.deps.db, flow.deps.kek, userId, code, undefined, mfaContext(ctx, flow)),
    });
  },
};
