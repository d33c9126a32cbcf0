import type { Context } from 'koa';
import type { GuardRefusal } from '../../src/security/index.ts';
import type { MessageKey } from '../../views/i18n.ts';
import type { PageContent } from '../../views/layout.ts';
import type { Flow } from '../flow.ts';
import { advance } from '../login.ts';

/**
 * The shared POST of the second-factor steps (TOTP, recovery code): throttle and durable
 * lockout around the verifier (`FactorGuard`, failing closed), generic errors, and on success
 * the method is added to the sign-in's `amr`.
 */
export async function verifySecondFactor(
  ctx: Context,
  flow: Flow,
  opts: {
    factor: 'totp' | 'recovery_code';
    amr: string;
    code: string | undefined;
    messages: { required: MessageKey; invalid: MessageKey; locked: MessageKey };
    page(errors: { field: string; message: string }[]): PageContent;
    verify(userId: string, code: string): Promise<{ ok: boolean }>;
  },
): Promise<void> {
  const { t } = flow.tr;
  const fail = (message: MessageKey, status: number) => flow.render(ctx, opts.page([{ field: 'code', message: t(message) }]), status);
  const code = opts.code?.trim() ?? '';
  if (code.length === 0) return fail(opts.messages.required, 400);

  const userId = flow.state.userId as string;
  const meta = flow.requestMeta(ctx);
  const result = await flow.deps.guard.run(flow.deps.db, { factor: opts.factor, userId, account: flow.state.email ?? null, ...meta }, () =>
    opts.verify(userId, code),
  );
  if ('refused' in result) {
    const refusal = result as GuardRefusal;
    if (refusal.refused === 'locked') return fail(opts.messages.locked, 403);
    ctx.set('Retry-After', String(refusal.retryAfterSeconds ?? 60));
    return fail('common.try_later', 429);
  }
  if (!result.ok) return fail(opts.messages.invalid, 400);
  flow.state = { ...flow.state, amr: [...flow.state.amr, opts.amr] };
  await advance(ctx, flow);
}

/** The MFA audit context of the request. */
export const mfaContext = (ctx: Context, flow: Flow) => flow.requestMeta(ctx);
