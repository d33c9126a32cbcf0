import type { Context } from 'koa';
import type { MessageKey } from '../views/i18n.ts';
import { sendPage } from '../views/layout.ts';
import { messagePage } from '../views/pages/message.ts';
import type { CsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { translatorFor } from './flow.ts';
import { ownOrigin } from './redirect.ts';
import { formField } from './step.ts';

/**
 * What the landings behind emailed links (magic link, password reset, email verification,
 * invitation) share: they belong to no interaction, so their forms and message pages stand alone.
 */

/**
 * CSRF defence of a form behind an emailed link (no interaction to bind to): the synchronizer
 * token is HMAC(k, purpose + the link's token) — only a page that showed the link's form has it —
 * plus the same `Sec-Fetch-Site` / `Origin` checks as the interaction forms.
 */
export function landingFormOk(ctx: Context, deps: InteractionDeps, csrf: CsrfTokens, subject: string): boolean {
  const site = ctx.get('sec-fetch-site');
  const origin = ctx.get('origin');
  const foreign = origin && origin !== 'null' && origin !== ownOrigin(ctx) && origin !== new URL(deps.issuer).origin;
  return !(site && site !== 'same-origin') && !foreign && csrf.verify(subject, formField(ctx, 'csrf', 64));
}

/** A message page (title and body from the catalogue) with our stylesheet, in the request's language. */
export function landingMessage(deps: Pick<InteractionDeps, 'prefix'>) {
  return (ctx: Context, title: MessageKey, body: MessageKey, status: number): void => {
    const tr = translatorFor(ctx);
    sendPage(ctx, messagePage(tr, title, body), { t: tr, assetsBase: deps.prefix, status });
  };
}
