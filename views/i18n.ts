import { en } from './messages/en.ts';

/** Message keys: the English catalogue is the reference. */
export type MessageKey = keyof typeof en;
/** A complete catalogue for one language (a translation must define every key). */
export type Catalogue = Readonly<Record<MessageKey, string>>;

const CATALOGUES: Readonly<Record<string, Catalogue>> = { en };
export const DEFAULT_LOCALE = 'en';

export interface Translator {
  /** BCP 47 tag of the language the page is in (`<html lang>`). */
  readonly locale: string;
  t(key: MessageKey, params?: Readonly<Record<string, string | number>>): string;
}

/** Replaces `{name}` placeholders; an unknown placeholder stays visible rather than vanishing. */
function format(message: string, params?: Readonly<Record<string, string | number>>): string {
  if (!params) return message;
  return message.replace(/\{([a-z_]+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/**
 * The first supported language of the OIDC `ui_locales` parameter, else of `Accept-Language`
 * (quality order), else English. Only primary subtags are matched (`en-GB` → `en`).
 */
export function negotiateLocale(opts: { uiLocales?: unknown; acceptLanguage?: unknown } = {}): string {
  const candidates: string[] = [];
  if (typeof opts.uiLocales === 'string') candidates.push(...opts.uiLocales.split(' '));
  if (typeof opts.acceptLanguage === 'string') {
    const ranked = opts.acceptLanguage
      .split(',')
      .map((part, i) => {
        const [tag = '', ...rest] = part.trim().split(';');
        const q = Number(/^q=([0-9.]+)$/.exec(rest.join('').trim())?.[1] ?? 1);
        return { tag: tag.trim(), q: Number.isFinite(q) ? q : 0, i };
      })
      .filter((x) => x.tag && x.q > 0)
      .sort((a, b) => b.q - a.q || a.i - b.i);
    candidates.push(...ranked.map((x) => x.tag));
  }
  for (const c of candidates) {
    const primary = c.toLowerCase().split('-')[0] ?? '';
    if (primary in CATALOGUES) return primary;
  }
  return DEFAULT_LOCALE;
}

export function translator(locale: string = DEFAULT_LOCALE): Translator {
  const catalogue = CATALOGUES[locale] ?? en;
  return {
    locale: CATALOGUES[locale] ? locale : DEFAULT_LOCALE,
    t: (key, params) => format(catalogue[key] ?? en[key], params),
  };
}
