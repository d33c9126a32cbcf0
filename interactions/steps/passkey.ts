import type { Context } from 'koa';
import { ACR_LEVEL } from '../../src/oidc/acr.ts';
import type { FinishAuthenticationResult } from '../../src/webauthn/index.ts';
import type { MessageKey } from '../../views/i18n.ts';
import { identifierPage } from '../../views/pages/identifier.ts';
import { type PasskeyEndpoints, passkeyPage } from '../../views/pages/passkey.ts';
import type { Flow } from '../flow.ts';
import {
  advance,
  identifierForm,
  nextLoginStep,
  passkeysAvailable,
  prepareLoginState,
  requiredLevel,
  secondFactorsOf,
  signingIn,
} from '../login.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';
import { atLoginStep } from './guard.ts';

/** The largest assertion a form may carry (the framework caps the whole form at 16 KiB). */
const MAX_RESPONSE = 12_000;

export const passkeyEndpoints = (flow: Flow): PasskeyEndpoints => ({
  optionsUrl: flow.url('passkey-options'),
  finishUrl: flow.url('passkey'),
  csrf: flow.csrf,
});

/**
 * Which ceremony the interaction is at: `passwordless` before any factor (identifier or password
 * page), `second` where the passkey is the due second factor (or stands in for TOTP), else none.
 */
function ceremonyOf(flow: Flow): 'passwordless' | 'second' | undefined {
  if (!signingIn(flow) || !passkeysAvailable(flow)) return undefined;
  const due = nextLoginStep(flow);
  if (!flow.state.userId && (due === 'identifier' || due === 'password')) return 'passwordless';
  const factors = flow.state.factors ?? [];
  if (flow.state.userId && (due === 'passkey' || (due === 'totp' && factors.includes('passkey')))) return 'second';
  return undefined;
}

/** A phishing-resistant class is needed: the second-factor passkey must verify the user. */
const needsUserVerification = (flow: Flow) => requiredLevel(flow) > ACR_LEVEL['urn:infranotes:acr:mfa'];

/**
 * The RFC 8176 methods of an assertion, as the sign-in state keeps them: the key kind (`swk` for a
 * backup-eligible, synced passkey, `hwk` for a device-bound one) and `user` when the authenticator
 * verified the user — with which `normalizeAmr` adds `mfa` and `acrForAmr` gives `phr`.
 */
export const stateAmrOf = (result: Extract<FinishAuthenticationResult, { ok: true }>): string[] => [
  result.backupEligible ? 'swk' : 'hwk',
  ...(result.userVerified ? ['user'] : []),
];

function renderFailure(ctx: Context, flow: Flow, ceremony: 'passwordless' | 'second', message: MessageKey, status: number): void {
  const errors = [{ message: flow.tr.t(message) }];
  const page =
    ceremony === 'passwordless'
      ? identifierPage({
          ...flow.model('identifier', errors),
          ...identifierForm(flow),
          email: flow.state.email,
          passkey: passkeyEndpoints(flow),
        })
      : secondFactorPage(flow, errors);
  flow.render(ctx, page, status);
}

const secondFactorPage = (flow: Flow, errors?: { field?: string; message: string }[]) =>
  passkeyPage({
    ...flow.model('passkey', errors),
    email: flow.state.email,
    passkey: passkeyEndpoints(flow),
    ...((flow.state.factors ?? []).includes('totp') && !needsUserVerification(flow) ? { totpHref: flow.url('totp') } : {}),
  });

/**
 * `POST …/passkey-options` (the passkey script's fetch, CSRF token in `X-CSRF-Token`): starts the
 * ceremony the interaction is at and keeps its challenge handle in the sign-in state. Answers the
 * WebAuthn request options as JSON, or a bare 409 when no passkey ceremony is due here.
 */
export const passkeyOptionsStep: Step = {
  path: 'passkey-options',
  async post(ctx, flow) {
    ctx.set('Cache-Control', 'no-store');
    if (flow.prompt.name === 'login') await prepareLoginState(flow);
    const ceremony = ceremonyOf(flow);
    const passkeys = flow.deps.passkeys;
    if (!ceremony || !passkeys) {
      ctx.status = 409;
      ctx.body = { error: 'no_passkey_ceremony' };
      return;
    }
    const { options, challengeHandle } =
      ceremony === 'passwordless'
        ? await passkeys.startAuthentication(flow.deps.db, flow.deps.store)
        : await passkeys.startAuthentication(flow.deps.db, flow.deps.store, {
            userId: flow.state.userId as string,
            userVerification: needsUserVerification(flow) ? 'required' : 'preferred',
          });
    flow.state = { ...flow.state, passkeyChallenge: challengeHandle };
    await flow.save();
    ctx.type = 'application/json';
    ctx.body = options;
  },
};

/**
 * `GET …/passkey`: the second-factor page. `POST …/passkey`: the finish of either ceremony (the
 * passkey script posts `response` as a form). Passwordless requires user verification; every
 * failure gets one generic message (the precise reason is audited by the service).
 */
export const passkeyStep: Step = {
  path: 'passkey',
  async get(ctx, flow) {
    if (!passkeysAvailable(flow)) return redirect303(ctx, flow.url());
    if (!(await atLoginStep(ctx, flow, ['passkey']))) return;
    flow.render(ctx, secondFactorPage(flow));
  },
  async post(ctx, flow) {
    if (flow.prompt.name === 'login') await prepareLoginState(flow);
    const ceremony = ceremonyOf(flow);
    const passkeys = flow.deps.passkeys;
    if (!ceremony || !passkeys) return redirect303(ctx, flow.url());
    const challengeHandle = flow.state.passkeyChallenge;
    // Single use: the handle leaves the state whatever the outcome.
    flow.state = { ...flow.state, passkeyChallenge: undefined };
    await flow.save();
    const response = formField(ctx, 'response', MAX_RESPONSE);
    if (!challengeHandle) return renderFailure(ctx, flow, ceremony, 'passkey.error_expired', 400);
    if (!response) return renderFailure(ctx, flow, ceremony, 'passkey.error_invalid', 400);

    const requireUserVerification = ceremony === 'passwordless' || needsUserVerification(flow);
    const result = await passkeys.finishAuthentication(
      flow.deps.db,
      flow.deps.store,
      { challengeHandle, response, requireUserVerification },
      flow.requestMeta(ctx),
    );
    if (!result.ok) {
      if (result.reason === 'expired') return renderFailure(ctx, flow, ceremony, 'passkey.error_expired', 400);
      if (result.reason === 'locked') return renderFailure(ctx, flow, ceremony, 'passkey.error_locked', 403);
      if (result.reason === 'rate_limited' || result.reason === 'limiter_unavailable') {
        ctx.set('Retry-After', String(result.retryAfterSeconds ?? 60));
        return renderFailure(ctx, flow, ceremony, 'common.try_later', result.reason === 'rate_limited' ? 429 : 503);
      }
      return renderFailure(ctx, flow, ceremony, 'passkey.error_invalid', 400);
    }

    if (ceremony === 'second') {
      // A known-user ceremony only accepts that user's credentials; checked again here all the same.
      if (result.userId !== flow.state.userId) return renderFailure(ctx, flow, ceremony, 'passkey.error_invalid', 400);
      flow.state = { ...flow.state, amr: [...flow.state.amr, ...stateAmrOf(result)] };
      return advance(ctx, flow);
    }
    const user = await flow.deps.db('users').where({ id: result.userId, status: 'active' }).whereNull('deleted_at').first('email');
    if (!user) return renderFailure(ctx, flow, ceremony, 'passkey.error_invalid', 400);
    flow.state = {
      email: user.email ?? undefined,
      userId: result.userId,
      amr: stateAmrOf(result),
      factors: await secondFactorsOf(flow, result.userId),
      ...(flow.state.fullLogin ? { fullLogin: true } : {}),
    };
    await advance(ctx, flow);
  },
};
