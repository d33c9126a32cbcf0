import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { koaBody } from 'koa-body';
import type { MessageKey } from '../views/i18n.ts';
import { sendPage } from '../views/layout.ts';
import { messagePage } from '../views/pages/message.ts';
import { assetRoutes } from './assets.ts';
import { createCsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { emailVerificationLanding } from './email-verification.ts';
import { type Flow, InteractionExpired, loadFlow, translatorFor } from './flow.ts';
import { invitationLanding } from './invitation-landing.ts';
import { flushDeferred } from './login.ts';
import { magicLinkLanding } from './magic-link.ts';
import { passwordResetLanding } from './password-reset.ts';
import { ownOrigin } from './redirect.ts';
import type { Step } from './step.ts';
import { abortStep } from './steps/abort.ts';
import { noMethodStep, unmetStep } from './steps/blocked.ts';
import { consentStep } from './steps/consent.ts';
import { forgotPasswordStep } from './steps/forgot-password.ts';
import { identifierStep } from './steps/identifier.ts';
import { magicLinkStep } from './steps/magic-link.ts';
import { passkeyOptionsStep, passkeyStep } from './steps/passkey.ts';
import { passwordStep } from './steps/password.ts';
import { recoveryCodeStep } from './steps/recovery-code.ts';
import { selectAccountStep } from './steps/select-account.ts';
import { signUpStep } from './steps/sign-up.ts';
import { startStep } from './steps/start.ts';
import { switchAccountStep } from './steps/switch-account.ts';
import { tenantStep } from './steps/tenant.ts';
import { totpStep } from './steps/totp.ts';

export type { InteractionDeps } from './deps.ts';

/** The steps, in no particular order (each names its own path). Magic link, passkeys … join here. */
export const STEPS: readonly Step[] = [
  startStep,
  identifierStep,
  passwordStep,
  totpStep,
  recoveryCodeStep,
  magicLinkStep,
  forgotPasswordStep,
  signUpStep,
  passkeyStep,
  passkeyOptionsStep,
  unmetStep,
  noMethodStep,
  consentStep,
  selectAccountStep,
  switchAccountStep,
  tenantStep,
  abortStep,
];

/** A form that failed the CSRF checks: 403, nothing processed. */
class CsrfRejected extends Error {}

/** Errors of a dependency we cannot do without (Redis, PostgreSQL): "try again later", never "allowed". */
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|Stream isn't writeable|enableOfflineQueue|MaxRetriesPerRequest|Command timed out|connect ETIMEDOUT|Connection terminated|timeout exceeded/i;

function errorPage(ctx: Context, deps: InteractionDeps, status: number, title: MessageKey, body: MessageKey): void {
  const tr = translatorFor(ctx);
  sendPage(ctx, messagePage(tr, title, body), { t: tr, assetsBase: deps.prefix, status });
}

/**
 * Renders every failure of the interaction routes as a page (never problem+json, never a
 * redirect): expired interaction 404, CSRF 403, dependency outage 503, anything else 500.
 */
function pageErrors(deps: InteractionDeps): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof InteractionExpired) {
        deps.logger.debug({ reason: err.message }, 'interaction not usable');
        return errorPage(ctx, deps, 404, 'expired.title', 'expired.body');
      }
      if (err instanceof CsrfRejected) {
        deps.logger.warn({ reason: err.message, path: ctx.path }, 'interaction form rejected (CSRF)');
        return errorPage(ctx, deps, 403, 'csrf.title', 'csrf.body');
      }
      const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? ''} ${String((err as { code?: unknown })?.code ?? '')}`;
      if (UNAVAILABLE.test(text)) {
        deps.logger.warn({ err }, 'sign-in refused: a dependency is unavailable');
        ctx.set('Retry-After', '30');
        return errorPage(ctx, deps, 503, 'unavailable.title', 'unavailable.body');
      }
      deps.logger.error({ err }, 'interaction failed');
      return errorPage(ctx, deps, 500, 'failure.title', 'failure.body');
    }
  };
}

/** Form bodies only (urlencoded, 16 KiB); anything else parses to nothing and fails the CSRF check. */
const parseForm = koaBody({
  urlencoded: true,
  json: false,
  text: false,
  multipart: false,
  formLimit: '16kb',
  onError: () => {
    throw new CsrfRejected('unparseable form body');
  },
});

/**
 * CSRF defence of every POST, before anything is loaded: the interaction's synchronizer token, plus
 * the browser's own signal — a `Sec-Fetch-Site` other than `same-origin` or an `Origin` of
 * another site is refused even with a token. (`Origin: null` is what a same-origin form sends
 * under `Referrer-Policy: no-referrer`, so only a concrete foreign origin counts against it.)
 */
function checkForm(ctx: Context, deps: InteractionDeps, csrf: ReturnType<typeof createCsrfTokens>): void {
  const site = ctx.get('sec-fetch-site');
  if (site && site !== 'same-origin') throw new CsrfRejected(`sec-fetch-site ${site}`);
  const origin = ctx.get('origin');
  if (origin && origin !== 'null' && origin !== ownOrigin(ctx) && origin !== new URL(deps.issuer).origin) {
    throw new CsrfRejected('foreign origin');
  }
  const body = (ctx.request as { body?: unknown }).body;
  const fromForm = body && typeof body === 'object' ? (body as Record<string, unknown>).csrf : undefined;
  // The passkey script's options call (fetch, JSON) sends it as a header a foreign page cannot set.
  const token = fromForm ?? (ctx.get('x-csrf-token') || undefined);
  if (!csrf.verify(String(ctx.params.uid ?? ''), token)) throw new CsrfRejected(token === undefined ? 'token missing' : 'token wrong');
}

/** The interaction routes (sign-in, consent) and the pages' assets. */
export function interactionRoutes(deps: InteractionDeps): Router {
  const router = new Router();
  const csrf = createCsrfTokens(deps.cookieKeys);
  const base = `${deps.prefix}/interaction/:uid`;
  const errors = pageErrors(deps);

  /** Runs a step; whatever it deferred and did not flush (it failed half-way) is still written. */
  const run = async (handler: NonNullable<Step['get']>, ctx: Context, flow: Flow) => {
    try {
      await handler(ctx, flow);
    } finally {
      await flushDeferred(flow).catch((err: unknown) => deps.logger.error({ err }, 'deferred sign-in writes failed'));
    }
  };

  for (const step of STEPS) {
    const path = step.path ? `${base}/${step.path}` : base;
    if (step.get) {
      const handler = step.get;
      router.get(path, errors, async (ctx: Context) => run(handler, ctx, await loadFlow(ctx, deps, csrf)));
    }
    if (step.post) {
      const handler = step.post;
      router.post(
        path,
        errors,
        (ctx: Context, next: Next) => parseForm(ctx, next),
        async (ctx: Context) => {
          checkForm(ctx, deps, csrf);
          await run(handler, ctx, await loadFlow(ctx, deps, csrf));
        },
      );
    }
  }
  magicLinkLanding(router, deps, { errors, parseForm });
  passwordResetLanding(router, deps, { errors, parseForm });
  emailVerificationLanding(router, deps, { errors, parseForm });
  invitationLanding(router, deps, { errors, parseForm });
  assetRoutes(router, deps.prefix);
  return router;
}
