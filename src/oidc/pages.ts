import { trustedHtml } from '../../views/html.ts';
import { negotiateLocale, type Translator, translator } from '../../views/i18n.ts';
import { type PageContent, sendPage } from '../../views/layout.ts';
import { loggedOutPage, logoutPage, oidcErrorPage } from '../../views/pages/oidc.ts';

/**
 * The engine's HTML hooks (`renderError`, the RP-initiated logout pages), rendered by views/
 * like every sign-in page: nonce CSP, our stylesheet, escaped values. An error page never
 * redirects (RFC 9700 §4.11: no open redirector).
 */
interface EngineCtx {
  status: number;
  type: string;
  body: unknown;
  set(field: string, value: string): void;
  get(field: string): string;
  oidc?: { client?: { clientName?: string; clientId?: string }; params?: Record<string, unknown> };
}

const originOf = (uri: unknown): string | undefined => (typeof uri === 'string' ? (URL.parse(uri)?.origin ?? undefined) : undefined);

export function createEnginePages(opts: { assetsBase: string }) {
  const trOf = (ctx: EngineCtx): Translator =>
    translator(negotiateLocale({ uiLocales: ctx.oidc?.params?.ui_locales, acceptLanguage: ctx.get('accept-language') }));
  const send = (ctx: EngineCtx, tr: Translator, page: PageContent) => sendPage(ctx, page, { t: tr, assetsBase: opts.assetsBase });
  const clientName = (ctx: EngineCtx) => {
    const c = ctx.oidc?.client;
    return c ? (c.clientName ?? c.clientId) : undefined;
  };

  return {
    renderError(ctx: unknown, out: { error?: unknown; error_description?: unknown }): void {
      const c = ctx as EngineCtx;
      const error = typeof out.error === 'string' ? out.error : 'server_error';
      const description = typeof out.error_description === 'string' ? out.error_description : undefined;
      send(c, trOf(c), oidcErrorPage(trOf(c), error, description));
    },

    logoutSource(ctx: unknown, form: string): void {
      const c = ctx as EngineCtx;
      const target = originOf(c.oidc?.params?.post_logout_redirect_uri);
      // `form` is the engine's own markup: an empty form with its action URL and its CSRF token.
      send(
        c,
        trOf(c),
        logoutPage(trOf(c), { engineForm: trustedHtml(form), clientName: clientName(c), formTargets: target ? [target] : [] }),
      );
    },

    postLogoutSuccessSource(ctx: unknown): void {
      const c = ctx as EngineCtx;
      send(c, trOf(c), loggedOutPage(trOf(c), clientName(c)));
    },
  };
}
