import { identifierPage } from '../../views/pages/identifier.ts';
import type { Flow } from '../flow.ts';
import { advance, identifierForm, passkeysAvailable } from '../login.ts';
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

/** The identifier page of this interaction (errors re-render it with what was typed). */
export function renderIdentifier(
  ctx: Parameters<NonNullable<Step['get']>>[0],
  flow: Flow,
  opts: { email?: string; errors?: { field: string; message: string }[] } = {},
): void {
  flow.render(
    ctx,
    identifierPage({
      ...flow.model('identifier', opts.errors),
      ...identifierForm(flow),
      email: opts.email,
      ...passkeyOffer(flow),
    }),
    opts.errors?.length ? 400 : 200,
  );
}

/** Step 1 of a sign-in: the email address (prefilled from `login_hint` when it is one). */
export const identifierStep: Step = {
  path: 'identifier',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['identifier']))) return;
    renderIdentifier(ctx, flow, { email: flow.state.email ?? parseEmail(flow.params.login_hint) });
  },
  async post(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['identifier', 'password']))) return;
    const typed = formField(ctx, 'email', 1024);
    const email = parseEmail(typed);
    if (!email) {
      return renderIdentifier(ctx, flow, {
        email: typed?.slice(0, MAX_EMAIL),
        errors: [{ field: 'email', message: flow.tr.t('identifier.error_email') }],
      });
    }
    flow.state = { ...flow.state, email, userId: undefined, amr: [], factors: undefined, stepUp: undefined };
    await advance(ctx, flow);
  },
};
