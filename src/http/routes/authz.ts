import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { CallerAuthenticator } from '../../authz/caller-auth.ts';
import {
  type ApiCaller,
  type BatchCheckRequest,
  batchCheckRequestSchema,
  type CheckApi,
  type CheckRequest,
  checkRequestSchema,
  type EffectivePermissionsRequest,
  effectivePermissionsRequestSchema,
} from '../../authz/check-api.ts';
import { AppError } from '../../errors/index.ts';
import { guard, jsonBody } from '../guard.ts';

/** Bearer authentication through the check API's caching authenticator (Profile A, ADR-0016). */
function authzBearer(auth: CallerAuthenticator): Middleware {
  return async (ctx, next) => {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(ctx.get('authorization'));
    if (!match?.[1]) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new AppError('unauthorized', { detail: 'a bearer access token is required' });
    }
    try {
      ctx.state.caller = await auth.authenticate(match[1]);
    } catch (err) {
      if (err instanceof AppError && err.code === 'unauthorized') ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw err;
    }
    await next();
  };
}

/**
 * The authorization check API over REST (ADR-0016): POST because a scope chain does not fit a
 * query string well and answers must never be cached by intermediaries.
 */
export function authzRoutes(deps: { api: CheckApi; auth: CallerAuthenticator; bodyLimitKb: number }): Router {
  const router = new Router({ prefix: '/v1/authz' });
  const common = [authzBearer(deps.auth), jsonBody(deps.bodyLimitKb)];
  const answer = (ctx: Parameters<Middleware>[0], body: unknown) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };
  router.post('/check', ...common, guard({ body: checkRequestSchema }), async (ctx) => {
    answer(ctx, await deps.api.check(ctx.state.caller as ApiCaller, ctx.state.input.body as CheckRequest));
  });
  router.post('/batch-check', ...common, guard({ body: batchCheckRequestSchema }), async (ctx) => {
    answer(ctx, await deps.api.batchCheck(ctx.state.caller as ApiCaller, ctx.state.input.body as BatchCheckRequest));
  });
  router.post('/effective-permissions', ...common, guard({ body: effectivePermissionsRequestSchema }), async (ctx) => {
    answer(ctx, await deps.api.effectivePermissions(ctx.state.caller as ApiCaller, ctx.state.input.body as EffectivePermissionsRequest));
  });
  return router;
}
