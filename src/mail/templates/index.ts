import type { MailCatalogue } from './catalogue.ts';
import { en } from './messages.en.ts';

export { MAIL_KINDS, type MailCatalogue, type MailKind, type MailKindMessages } from './catalogue.ts';
export { en } from './messages.en.ts';

/** Registered catalogues by language; add a locale by adding its catalogue here. */
export const MAIL_CATALOGUES: Readonly<Record<string, MailCatalogue>> = { en };

/** The catalogue for a locale (`de-CH` → `de`), English when there is none. */
export function catalogueFor(locale?: string): MailCatalogue {
  if (locale) {
    const exact = MAIL_CATALOGUES[locale.toLowerCase()];
    if (exact) return exact;
    const lang = MAIL_CATALOGUES[locale.toLowerCase().split(/[-_]/)[0] ?? ''];
    if (lang) return lang;
  }
  return en;
}
