import { identifierPage } from '../../views/pages/identifier.ts';
import type { Flow } from '../flow.ts';
import { advance, passkeysAvailable } from '../login.ts';
import { formField, type Step } from '../step.ts';
import { atLoginStep } from './guard.ts';
import { passkeyEndpoints } from './passkey.ts';
import { signUpAllowed } from './sign-up.ts';

const EMAIL = /^[^@\s]+@[^@\s]+$/;
const MAX_EMAIL = 320;

/** Accepts what looks like an email address; nothing is looked up (no account enumeration). */
export function parseEmail(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const email = value.trim().normalize('NFKC');
  return email.length <= MAX_EMAIL && EMAIL.test(email) ? email : undefined;
}

/** "Sign in with a passkey" and conditional UI, where this issuer and the tenant allow passkeys. */
const passkeyOffer = (flow: Flow) => ({
  ...(passkeysAvailable(flow) ? { passkey: passkeyEndpoints(flow) } : {}),
  // "Create an account", where the deployment and the tenant allow self sign-up.
  ...(signUpAllowed(flow) ? { signUpHref: flow.url('sign-up') } : {}),
});

/** Step 1 of a sign-in: the email address (prefilled from `login_hint` when it is one). */
export const identifierStep: Step = {
  path: 'identifier',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['identifier']))) return;
    const hint = parseEmail(flow.params.login_hint);
    flow.render(ctx, identifierPage({ ...flow.model('identifier'), email: flow.state.email ?? hint, ...passkeyOffer(flow) }));
  },
  async post(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['identifier', 'password']))) return;
    const typed = formField(ctx, 'email', 1024);
    const email = parseEmail(typed);
    if (!email) {
      const errors = [{ field: 'email', message: flow.tr.t('identifier.error_email') }];
      return flow.render(
        ctx,
        identifierPage({ ...flow.model('identifier', errors), email: typed?.slice(0, MAX_EMAIL), ...passkeyOffer(flow) }),
        400,
      );
    }
    flow.state = { ...flow.state, email, userId: undefined, amr: [], factors: undefined, stepUp: undefined };
    await advance(ctx, flow);
  },
};
