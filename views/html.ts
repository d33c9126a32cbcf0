/**
 * Safe HTML for the server-rendered pages: `html` is a tagged template that escapes every
 * interpolated value unless it is already `SafeHtml` (the output of another `html` template, or
 * `trustedHtml` for markup produced by code we trust, such as the engine's logout form). Values
 * are escaped for both text and quoted-attribute contexts; templates always quote attributes.
 */
export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map((v) => render(v)).join('');
  return escapeHtml(value);
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/** Markup that is trusted as is. Never pass anything derived from a request. */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
