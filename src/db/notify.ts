import pg from 'pg';
import type { Logger } from '../observability/logger.ts';

/**
 * LISTENs on a PostgreSQL channel over a dedicated connection (a pooled one would lose the
 * subscription), reconnecting with backoff. Notifications missed while disconnected are
 * covered by the caller's periodic refresh, which keeps running.
 */
export function listenChannel(opts: {
  url: string;
  channel: string;
  logger: Logger;
  onNotify: (payload: string) => void;
  /** Called after every reconnection: whatever was announced while disconnected is unknown, so refresh. */
  onConnect?: () => void;
}): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: opts.url, application_name: 'iam-listen' });
    c.on('notification', (n) => {
      if (n.channel === opts.channel) opts.onNotify(n.payload ?? '');
    });
    c.on('error', () => undefined);
    c.on('end', () => {
      if (!closed) schedule();
    });
    try {
      await c.connect();
      await c.query(`listen ${pg.escapeIdentifier(opts.channel)}`);
      client = c;
      if (attempt > 0) opts.onConnect?.();
      attempt = 0;
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message, channel: opts.channel }, 'LISTEN connection failed; retrying');
      await c.end().catch(() => undefined);
      schedule();
    }
  };
  const schedule = () => {
    if (closed) return;
    attempt++;
    timer = setTimeout(() => void connect(), Math.min(30_000, 250 * 2 ** attempt)).unref();
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
