import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request values every log line carries. */
export interface RequestContext {
  requestId: string;
  traceId: string;
  tenantId?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

/** Record the tenant once it is known, so later log lines carry it. */
export function setContextTenant(tenantId: string): void {
  const ctx = requestContext.getStore();
  if (ctx) ctx.tenantId = tenantId;
}
