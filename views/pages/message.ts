import { html } from '../html.ts';
import type { MessageKey, Translator } from '../i18n.ts';
import type { PageContent } from '../layout.ts';

/** A page that only tells something (expired request, refused form, outage): no form, no redirect. */
export function messagePage(tr: Translator, title: MessageKey, body: MessageKey, params?: Record<string, string>): PageContent {
  return {
    title: tr.t(title, params),
    body: html`<h1>${tr.t(title, params)}</h1>
<p>${tr.t(body, params)}</p>`,
  };
}
