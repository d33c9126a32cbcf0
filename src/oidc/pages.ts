import { escapeHtml, renderPage } from './html.ts';

/**
 * The engine's HTML hooks (`renderError`, RP-initiated logout pages). Every value that reaches
 * the page is escaped; an error page never redirects (RFC 9700 §4.11: no open redirector).
 */
type Ctx = Parameters<typeof renderPage>[0] & { oidc?: { client?: { clientName?: string; clientId?: string } }; host?: string };

export function renderError(ctx: unknown, out: { error?: unknown; error_description?: unknown }): void {
  const error = typeof out.error === 'string' ? out.error : 'server_error';
  const description = typeof out.error_description === 'string' ? out.error_description : '';
  renderPage(ctx as Ctx, {
    title: 'Sign-in error',
    body: `<h1>This request cannot be completed</h1>
<p>The application sent a request that InfraNotes IAM could not accept. Go back to the application and try again; if this keeps happening, contact its administrator.</p>
<p class="muted">Error: <code>${escapeHtml(error)}</code>${description ? ` — ${escapeHtml(description)}` : ''}</p>`,
  });
}

export function logoutSource(ctx: unknown, form: string): void {
  const c = ctx as Ctx;
  // `form` is the engine's own markup (an empty form with the action URL and the CSRF token).
  renderPage(c, {
    title: 'Sign out',
    formAction: false,
    body: `<h1>Sign out of InfraNotes?</h1>
${form}
<p>You are signing out of InfraNotes IAM on this device${c.oidc?.client ? ` (requested by ${escapeHtml(c.oidc.client.clientName ?? c.oidc.client.clientId)})` : ''}.</p>
<button class="primary" type="submit" form="op.logoutForm" value="yes" name="logout" autofocus>Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`,
  });
}

export function postLogoutSuccessSource(ctx: unknown): void {
  renderPage(ctx as Ctx, {
    title: 'Signed out',
    body: `<h1>You are signed out</h1>
<p>You can close this window.</p>`,
  });
}
