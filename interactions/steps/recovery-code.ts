import { consumeRecoveryCode } from '../../src/mfa/index.ts';
import { recoveryCodePage } from '../../views/pages/recovery-code.ts';
import type { Flow } from '../flow.ts';
import { formField, type Step } from '../step.ts';
import { atLoginStep } from './guard.ts';
import { mfaContext, verifySecondFactor } from './second-factor.ts';

const page = (flow: Flow, errors?: { field: string; message: string }[]) =>
  recoveryCodePage({ ...flow.model('recovery-code', errors), email: flow.state.email, totpHref: flow.url('totp') });

/**
 * Second factor fallback: a single-use recovery code. It counts as `otp` in `amr` (a one-time
 * look-up secret, RFC 8176 has no narrower value), so the sign-in is `mfa` like with TOTP.
 */
export const recoveryCodeStep: Step = {
  path: 'recovery-code',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['recovery-code']))) return;
    flow.render(ctx, page(flow));
  },
  async post(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['recovery-code']))) return;
    await verifySecondFactor(ctx, flow, {
      factor: 'recovery_code',
      amr: 'otp',
      code: formField(ctx, 'code', 64),
      messages: { required: 'recovery.error_required', invalid: 'recovery.error_invalid', locked: 'recovery.error_locked' },
      page: (errors) => page(flow, errors),
      verify: (userId, code) => consumeRecoveryCode(flow.deps.db, flow.deps.kek, userId, code, mfaContext(ctx, flow)),
    });
  },
};
