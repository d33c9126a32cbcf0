import type { Middleware } from 'koa';
import { koaBody } from 'koa-body';
import type { z } from 'zod';
import { AppError } from '../errors/index.ts';

/** Strict JSON body parsing: only application/json, size-limited, parse errors become problems. */
export function jsonBody(limitKb: number): Middleware {
  const parse = koaBody({
    json: true,
    jsonStrict: true,
    // The same two types the media-type check below admits; koa-body's defaults omit merge-patch.
    jsonTypes: ['application/json', 'application/merge-patch+json'],
    urlencoded: false,
    text: false,
    multipart: false,
    jsonLimit: `${limitKb}kb`,
    onError: (err) => {
      const status = (err as { status?: number }).status;
      if (status === 413) throw new AppError('payload_too_large', { detail: `request body exceeds ${limitKb} KiB` });
      throw new AppError('malformed_body', { detail: 'request body is not valid JSON' });
    },
  });
  return async (ctx, next) => {
    if (ctx.request.length || ctx.get('transfer-encoding')) {
      if (!ctx.is('application/json', 'application/merge-patch+json')) {
        throw new AppError('unsupported_media_type', { detail: 'send the body as application/json' });
      }
    }
    await parse(ctx, next);
  };
}

interface GuardSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  body?: B;
  query?: Q;
  params?: P;
}

function issues(where: string, error: z.ZodError) {
  return error.issues.map((i) => ({ name: [where, ...i.path].join('.'), reason: i.message }));
}

/**
 * Validates a request against its schemas before the handler runs; the parsed values land in
 * `ctx.state.input`. A handler never sees unvalidated input.
 */
export function guard<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(spec: GuardSpec<B, Q, P>): Middleware {
  return async (ctx, next) => {
    const input: { body?: unknown; query?: unknown; params?: unknown } = {};
    const invalid: { name: string; reason: string }[] = [];
    const parts = [
      ['body', spec.body, (ctx.request as { body?: unknown }).body],
      ['query', spec.query, ctx.query],
      ['params', spec.params, (ctx as { params?: unknown }).params],
    ] as const;
    for (const [where, schema, value] of parts) {
      if (!schema) continue;
      const r = schema.safeParse(value);
      if (r.success) input[where] = r.data;
      else invalid.push(...issues(where, r.error));
    }
    if (invalid.length)
      throw new AppError('validation_failed', { detail: 'the request does not match its schema', invalidParams: invalid });
    ctx.state.input = input;
    await next();
  };
}
