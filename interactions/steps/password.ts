import { passwordPage } from '../../views/pages/password.ts';
import type { Flow } from '../flow.ts';
import { advance, secondFactorsOf } from '../login.ts';
import { formField, type Step } from '../step.ts';
import { atLoginStep } from './guard.ts';

const render = (ctx: Parameters<NonNullable<Step['get']>>[0], flow: Flow, errors?: { field: string; message: string }[], status = 200) =>
  flow.render(
    ctx,
    passwordPage({
      ...flow.model('password', errors),
      email: flow.state.email ?? '',
      switchAction: flow.url('switch-account'),
      forgotHref: flow.url('forgot-password'),
      ...(flow.tenant.methods.includes('magic_link') ? { magicLinkAction: flow.url('magic-link') } : {}),
    }),
    status,
  );

/**
 * The password of the email typed. Known or not, every email gets this page and every failure
 * the same answer; `verifyUserPassword` equalises the time (a dummy hash for unknown accounts),
 * throttles per account and per source address (failing closed: a limiter that cannot answer
 * refuses) and counts failures durably. A refused attempt is "try again later", never let through.
 */
export const passwordStep: Step = {
  path: 'password',
  async get(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['password']))) return;
    render(ctx, flow);
  },
  async post(ctx, flow) {
    if (!(await atLoginStep(ctx, flow, ['password']))) return;
    const { t } = flow.tr;
    const password = formField(ctx, 'password', 4096) ?? '';
    if (password.length === 0) return render(ctx, flow, [{ field: 'password', message: t('password.error_required') }], 400);

    const meta = flow.requestMeta(ctx);
    const result = await flow.deps.passwords.verifyUserPassword(
      flow.deps.db,
      { email: flow.state.email ?? '', password, ...meta },
      // The success's writes join the login's transaction (or are flushed before the next page).
      { deferSuccessWrites: flow.deferred },
    );
    if (!result.ok) {
      if (result.retryAfterSeconds !== undefined) {
        ctx.set('Retry-After', String(result.retryAfterSeconds));
        return render(ctx, flow, [{ field: 'password', message: t('common.try_later') }], 429);
      }
      return render(ctx, flow, [{ field: 'password', message: t('password.error_invalid') }], 400);
    }
    flow.state = { ...flow.state, userId: result.userId, amr: ['pwd'], factors: await secondFactorsOf(flow, result.userId) };
    await advance(ctx, flow);
  },
};
