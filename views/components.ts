import { type HtmlValue, html, type SafeHtml } from './html.ts';

/** A validation error of a form: `field` is the id of the input it belongs to (the summary links to it). */
export interface FieldError {
  field?: string;
  message: string;
}

/**
 * The error summary at the top of a form (GOV.UK pattern): a titled list whose entries link to
 * the fields; it takes the focus when the page loads, so screen readers announce it first.
 */
export function errorSummary(title: string, errors: readonly FieldError[]): SafeHtml {
  if (errors.length === 0) return html``;
  return html`<div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus>
<h2 id="error-summary-title">${title}</h2>
<ul>${errors.map((e) => html`<li>${e.field ? html`<a href="#${e.field}">${e.message}</a>` : e.message}</li>`)}</ul>
</div>`;
}

export interface TextFieldOptions {
  id: string;
  name: string;
  label: string;
  type?: 'text' | 'email' | 'password';
  value?: string;
  autocomplete?: string;
  inputmode?: 'text' | 'email' | 'numeric';
  hint?: string;
  error?: string;
  autofocus?: boolean;
  maxlength?: number;
  spellcheck?: boolean;
  /** `data-*` attributes (names without the prefix), e.g. for the passkey script. */
  data?: Readonly<Record<string, string>>;
}

/** A labelled input with optional hint and inline error, wired with aria-describedby / aria-invalid. */
export function textField(o: TextFieldOptions): SafeHtml {
  const described = [o.hint ? `${o.id}-hint` : '', o.error ? `${o.id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field${o.error ? ' field--error' : ''}">
<label for="${o.id}">${o.label}</label>
${o.hint ? html`<span class="hint" id="${o.id}-hint">${o.hint}</span>` : ''}
${o.error ? html`<span class="field-error" id="${o.id}-error">${o.error}</span>` : ''}
<input id="${o.id}" name="${o.name}" type="${o.type ?? 'text'}"${attr('value', o.value)}${attr('autocomplete', o.autocomplete)}${Object.entries(o.data ?? {}).map(([k, v]) => attr(`data-${k}`, v))}${attr('inputmode', o.inputmode)}${attr('maxlength', o.maxlength)}${attr('aria-describedby', described || undefined)}${o.error ? html` aria-invalid="true"` : ''}${o.spellcheck === false ? html` spellcheck="false" autocapitalize="none"` : ''} required${o.autofocus ? html` autofocus` : ''}>
</div>`;
}

function attr(name: string, value: string | number | undefined): SafeHtml {
  return value === undefined || value === '' ? html`` : html` ${name}="${value}"`;
}

/** The synchronizer token of the interaction (every form carries it). */
export const csrfInput = (token: string): SafeHtml => html`<input type="hidden" name="csrf" value="${token}">`;

export interface ButtonOptions {
  variant?: 'primary' | 'secondary' | 'link';
  name?: string;
  value?: string;
  /** Id of the form it submits when it sits outside it. */
  form?: string;
}

export function button(label: string, opts: ButtonOptions = {}): SafeHtml {
  return html`<button type="submit" class="button--${opts.variant ?? 'primary'}"${attr('form', opts.form)}${attr('name', opts.name)}${attr('value', opts.value)}>${label}</button>`;
}

/** A form posting to `action` with the CSRF token and the given content. */
export function postForm(action: string, csrf: string, content: HtmlValue, opts: { novalidate?: boolean; id?: string } = {}): SafeHtml {
  return html`<form method="post" action="${action}"${attr('id', opts.id)}${opts.novalidate ? html` novalidate` : ''}>
${csrfInput(csrf)}
${content}
</form>`;
}

/** A single-button form (actions that change state are never links). */
export function actionForm(action: string, csrf: string, label: string, variant: 'primary' | 'secondary' | 'link' = 'link'): SafeHtml {
  return postForm(action, csrf, button(label, { variant }));
}

/** The sign-in email field, identical wherever an address is asked for (label, autofill, limits). */
export function emailField(o: {
  label: string;
  value?: string;
  error?: string;
  autofocus: boolean;
  autocomplete?: string;
  data?: TextFieldOptions['data'];
}): SafeHtml {
  return textField({
    id: 'email',
    name: 'email',
    type: 'email',
    label: o.label,
    value: o.value,
    autocomplete: o.autocomplete ?? 'username',
    ...(o.data ? { data: o.data } : {}),
    inputmode: 'email',
    error: o.error,
    autofocus: o.autofocus,
    maxlength: 320,
    spellcheck: false,
  });
}
