import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';
import { requestContext } from './context.ts';

export type { Logger } from 'pino';

/** Anything that could hold a credential is censored wherever it appears in a log object. */
export const redactPaths = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  '*.client_secret',
  'client_secret',
  'token',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  'body.code',
  'query.code',
  'params.code',
  '*.kek',
  'kek',
  '*.private_key',
  '*.privateKey',
  '*.passphrase',
  'passphrase',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-iam-assertion"]',
  'res.headers["set-cookie"]',
  'config.keys.kek',
  'config.database.url',
  'config.redis.url',
  'config.mail.smtp_url',
];

export interface LoggerOptions {
  level: string;
  name?: string;
  /** Where lines go; the CLI sends logs to stderr so stdout stays machine-readable. */
  destination?: DestinationStream | NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.name ?? 'iam',
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: '[redacted]' },
      // Correlation fields come from the request's async context, so call sites never pass them.
      mixin() {
        const ctx = requestContext.getStore();
        const spanTrace = trace.getActiveSpan()?.spanContext().traceId;
        if (!ctx) return spanTrace ? { trace_id: spanTrace } : {};
        return { request_id: ctx.requestId, trace_id: spanTrace ?? ctx.traceId, ...(ctx.tenantId ? { tenant_id: ctx.tenantId } : {}) };
      },
    },
    (opts.destination as DestinationStream | undefined) ?? pino.destination({ fd: 1, sync: false }),
  );
}
