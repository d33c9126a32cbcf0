import Router from '@koa/router';
import type Provider from 'oidc-provider';
import { escapeHtml, renderPage } from '../src/oidc/html.ts';

const UID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Interim interaction route (until sign-in lands, P3): a valid authorization request is sent here
 * by the engine (`interactions.url`) and this page says plainly that signing in is not available
 * yet. It never offers the engine's development login, never redirects, and is served with the
 * login-page headers (CSP without 'unsafe-inline', `frame-ancestors 'none'`, no referrer, no store).
 */
export function interimInteractionRoutes(opts: { prefix: string; provider: () => Provider }): Router {
  const router = new Router();
  router.get(`${opts.prefix}/interaction/:uid`, async (ctx) => {
    const uid = ctx.params.uid ?? '';
    const interaction = UID.test(uid) ? await opts.provider().Interaction.find(uid) : undefined;
    if (!interaction) {
      ctx.status = 404;
      renderPage(ctx, {
        title: 'Sign-in request expired',
        body: `<h1>This sign-in request has expired</h1>
<p>Go back to the application and start again.</p>`,
      });
      return;
    }
    const client = (interaction.params as { client_id?: unknown }).client_id;
    ctx.status = 200;
    renderPage(ctx, {
      title: 'Sign-in is not available yet',
      body: `<h1>Sign-in is not available yet</h1>
<p>InfraNotes IAM received this sign-in request${typeof client === 'string' ? ` from <code>${escapeHtml(client)}</code>` : ''}, but signing in with a user account is not available on this server yet.</p>
<p>Please try again once sign-in has been enabled, or contact the administrator of the application.</p>
<p class="muted">Reference: <code>${escapeHtml(uid)}</code></p>`,
    });
  });
  return router;
}
