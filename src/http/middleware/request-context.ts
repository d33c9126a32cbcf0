import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { requestContext } from '../../observability/context.ts';

const SAFE_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Assigns the request id (a well-formed inbound X-Request-Id is kept so ids follow a request
 * across services) and the trace id, and runs the rest of the request inside that context.
 */
export function requestContextMiddleware(): Middleware {
  return async (ctx, next) => {
    const headers = ctx.req.headers;
    const inbound = headers['x-request-id'];
    const requestId = typeof inbound === 'string' && SAFE_ID.test(inbound) ? inbound : randomUUID();
    // randomUUID draws from a pooled entropy cache: far cheaper per request than randomBytes.
    const traceparent = headers.traceparent;
    const traceId = (typeof traceparent === 'string' && TRACEPARENT.exec(traceparent)?.[1]) || randomUUID().replaceAll('-', '');
    ctx.state.requestId = requestId;
    ctx.res.setHeader('X-Request-Id', requestId);
    await requestContext.run({ requestId, traceId }, next);
  };
}
