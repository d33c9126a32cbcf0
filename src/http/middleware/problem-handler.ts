import type { Middleware } from 'koa';
import { AppError, toProblem } from '../../errors/index.ts';
import type { Logger } from '../../observability/logger.ts';

/** Maps framework errors (koa-body, http-errors) raised by client mistakes to our catalogue. */
function fromHttpError(err: { status?: number; statusCode?: number; message?: string; expose?: boolean }): AppError | undefined {
  const status = err.status ?? err.statusCode;
  if (!status || status >= 500) return undefined;
  const detail = err.expose ? err.message : undefined;
  switch (status) {
    case 400:
      return new AppError('malformed_body', { detail });
    case 401:
      return new AppError('unauthorized', { detail });
    case 403:
      return new AppError('forbidden', { detail });
    case 404:
      return new AppError('not_found', { detail });
    case 405:
      return new AppError('method_not_allowed', { detail });
    case 409:
      return new AppError('conflict', { detail });
    case 412:
      return new AppError('precondition_failed', { detail });
    case 429:
      return new AppError('rate_limited', { detail });
    case 413:
      return new AppError('payload_too_large', { detail });
    case 415:
      return new AppError('unsupported_media_type', { detail });
    default:
      return new AppError('validation_failed', { detail });
  }
}

/** Every error on a non-OAuth route leaves as application/problem+json (contracts/errors.md). */
export function problemHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError('not_found');
    } catch (caught) {
      const err = caught instanceof AppError ? caught : (fromHttpError(caught as object) ?? caught);
      const problem = toProblem(err, ctx.path, ctx.state.requestId as string | undefined);
      if (problem.status >= 500) logger.error({ err: caught }, 'unhandled error');
      ctx.status = problem.status;
      ctx.type = 'application/problem+json';
      ctx.body = problem;
      if (err instanceof AppError && err.code === 'method_not_allowed' && err.extensions?.allow) {
        ctx.set('Allow', String(err.extensions.allow));
      }
    }
  };
}
