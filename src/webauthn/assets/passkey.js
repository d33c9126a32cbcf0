// Passkey ceremonies in the browser (ADR-0014). Served from this service next to
// @simplewebauthn/browser's UMD bundle (load that first, both with `defer`); no inline script,
// no third-party origin. Pages opt in with data attributes:
//
//   <button type="button" hidden data-passkey="register|authenticate"
//           data-options-url="…" data-finish-url="…" data-csrf="TOKEN"
//           [data-csrf-field="csrf"] [data-name-input="ID"] [data-error="ID"]>…</button>
//   <input autocomplete="username webauthn" data-passkey="autofill"
//          data-options-url="…" data-finish-url="…" data-csrf="TOKEN">   (conditional UI)
//
// The options URL is POSTed (JSON, CSRF token in `X-CSRF-Token` and the body) and answers with
// the WebAuthn options JSON. The result is POSTed to the finish URL as an ordinary form
// (fields: the CSRF field, `response` = the credential as JSON, optionally `name`), so the
// server answers with a page or a redirect as for any other form. Buttons stay hidden where
// WebAuthn is unavailable; the element named by data-error is shown on failure (its text comes
// from the page, ready for translation).
(() => {
  const lib = window.SimpleWebAuthnBrowser;
  if (!lib?.browserSupportsWebAuthn()) return;

  const byId = (id) => (id ? document.getElementById(id) : null);

  async function fetchOptions(el) {
    const csrf = el.dataset.csrf || '';
    const res = await fetch(el.dataset.optionsUrl, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ csrf }),
    });
    if (!res.ok) throw new Error(`passkey options: HTTP ${res.status}`);
    return res.json();
  }

  function post(el, credential) {
    const form = document.createElement('form');
    form.method = 'post';
    form.action = el.dataset.finishUrl;
    form.hidden = true;
    const add = (name, value) => {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.appendChild(input);
    };
    add(el.dataset.csrfField || 'csrf', el.dataset.csrf || '');
    add('response', JSON.stringify(credential));
    const nameInput = byId(el.dataset.nameInput);
    if (nameInput?.value) add('name', nameInput.value);
    document.body.appendChild(form);
    form.submit();
  }

  function showError(el) {
    const target = byId(el.dataset.error);
    if (!target) return;
    if (!target.textContent && target.dataset.message) target.textContent = target.dataset.message;
    target.hidden = false;
    if (typeof target.focus === 'function') target.focus();
  }

  async function ceremony(el, autofill) {
    const optionsJSON = await fetchOptions(el);
    if (el.dataset.passkey === 'register') return lib.startRegistration({ optionsJSON });
    return lib.startAuthentication(autofill ? { optionsJSON, useBrowserAutofill: true } : { optionsJSON });
  }

  for (const button of document.querySelectorAll('[data-passkey="register"], [data-passkey="authenticate"]')) {
    button.hidden = false;
    button.addEventListener('click', async (event) => {
      event.preventDefault();
      if (button.disabled) return;
      button.disabled = true;
      const errorTarget = byId(button.dataset.error);
      if (errorTarget) errorTarget.hidden = true;
      try {
        post(button, await ceremony(button, false));
      } catch (err) {
        button.disabled = false;
        // A ceremony replaced by another one (the autofill request when the button is pressed) is no failure.
        if (err?.name !== 'AbortError') showError(button);
      }
    });
  }

  const autofill = document.querySelector('[data-passkey="autofill"]');
  if (autofill && typeof lib.browserSupportsWebAuthnAutofill === 'function') {
    lib
      .browserSupportsWebAuthnAutofill()
      .then(async (supported) => {
        if (!supported) return;
        post(autofill, await ceremony(autofill, true));
      })
      .catch(() => {
        // Conditional UI fails quietly: the user can still type their identifier or press the button.
      });
  }
})();
