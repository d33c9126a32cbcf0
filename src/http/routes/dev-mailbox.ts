import Router from '@koa/router';
import type { DevMailbox } from '../../mail/index.ts';

/** Development mailbox (no SMTP configured, never in production): read what the service sent. */
export function devMailboxRoutes(deps: { mailbox: DevMailbox }): Router {
  const router = new Router();
  router.get('/dev/mailbox', async (ctx) => {
    ctx.body = { messages: await deps.mailbox.list() };
  });
  return router;
}
