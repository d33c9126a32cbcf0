import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { expect } from 'chai';
import { loadPasskeyBrowserAssets, PASSKEY_SCRIPT_PATH, SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH } from '../../src/webauthn/index.ts';

/** Just enough DOM for passkey.js: elements with dataset, listeners, forms that record submission. */
class FakeElement {
  hidden = false;
  disabled = false;
  textContent = '';
  focused = false;
  dataset: Record<string, string>;
  children: FakeElement[] = [];
  listeners: Record<string, ((e: { preventDefault(): void }) => unknown)[]> = {};
  submitted = false;
  [key: string]: unknown;
  readonly tag: string;
  constructor(tag: string, dataset: Record<string, string> = {}, props: Record<string, unknown> = {}) {
    this.tag = tag;
    this.dataset = dataset;
    Object.assign(this, props);
  }
  addEventListener(type: string, fn: (e: { preventDefault(): void }) => unknown) {
    this.listeners[type] ??= [];
    this.listeners[type].push(fn);
  }
  appendChild(c: FakeElement) {
    this.children.push(c);
    return c;
  }
  focus() {
    this.focused = true;
  }
  submit() {
    this.submitted = true;
  }
  async click() {
    for (const fn of this.listeners.click ?? []) await fn({ preventDefault() {} });
  }
}

interface Page {
  elements: FakeElement[];
  byId: Record<string, FakeElement>;
  forms: FakeElement[];
  fetches: { url: string; init: { method: string; headers: Record<string, string>; body: string } }[];
  calls: { method: string; arg: Record<string, unknown> }[];
}

function load(
  elements: FakeElement[],
  byId: Record<string, FakeElement>,
  lib: {
    supported?: boolean;
    autofill?: boolean;
    fail?: Error;
  } = {},
): Page {
  const page: Page = { elements, byId, forms: [], fetches: [], calls: [] };
  const options = { challenge: 'Y2hhbGxlbmdl', rpId: 'id.example.test' };
  const ceremony = (method: string) => async (arg: Record<string, unknown>) => {
    page.calls.push({ method, arg });
    if (lib.fail) throw lib.fail;
    return { id: 'cred', rawId: 'cred', type: 'public-key', response: { clientDataJSON: 'e30' } };
  };
  const document = {
    body: {
      appendChild(f: FakeElement) {
        page.forms.push(f);
      },
    },
    querySelectorAll: (sel: string) =>
      elements.filter((e) => sel.split(',').some((s) => s.includes(`"${e.dataset.passkey}"`) && e.dataset.passkey !== 'autofill')),
    querySelector: (sel: string) => elements.find((e) => sel.includes(`"${e.dataset.passkey}"`)) ?? null,
    getElementById: (id: string) => byId[id] ?? null,
    createElement: (tag: string) => new FakeElement(tag),
  };
  const window = {
    SimpleWebAuthnBrowser: {
      browserSupportsWebAuthn: () => lib.supported ?? true,
      browserSupportsWebAuthnAutofill: async () => lib.autofill ?? false,
      startRegistration: ceremony('startRegistration'),
      startAuthentication: ceremony('startAuthentication'),
    },
  };
  const fetch = async (url: string, init: Page['fetches'][number]['init']) => {
    page.fetches.push({ url, init });
    return { ok: true, status: 200, json: async () => options };
  };
  runInNewContext(readFileSync(PASSKEY_SCRIPT_PATH, 'utf8'), { window, document, fetch, JSON, Error, Promise });
  return page;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('webauthn: browser assets', () => {
  it('points at the locally installed @simplewebauthn/browser UMD bundle', () => {
    expect(SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH).to.match(/node_modules\/@simplewebauthn\/browser\/dist\/bundle\/index\.umd\.min\.js$/);
    expect(existsSync(SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH)).to.equal(true);
    const sandbox: Record<string, unknown> = {};
    runInNewContext(readFileSync(SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH, 'utf8'), sandbox);
    const lib = sandbox.SimpleWebAuthnBrowser as Record<string, unknown>;
    for (const fn of ['startRegistration', 'startAuthentication', 'browserSupportsWebAuthn', 'browserSupportsWebAuthnAutofill']) {
      expect(lib[fn], fn).to.be.a('function');
    }
  });

  it('loads both scripts with their integrity values, library first', () => {
    const [bundle, script] = loadPasskeyBrowserAssets();
    expect(bundle.plainName).to.equal('simplewebauthn-browser.umd.min.js');
    expect(script.plainName).to.equal('passkey.js');
    for (const a of [bundle, script]) {
      expect(a.type).to.equal('text/javascript; charset=utf-8');
      expect(a.integrity).to.equal(`sha384-${createHash('sha384').update(a.body).digest('base64')}`);
    }
    expect(script.path).to.equal(PASSKEY_SCRIPT_PATH);
  });

  it('the passkey script loads nothing from elsewhere and needs no inline script', () => {
    const src = readFileSync(PASSKEY_SCRIPT_PATH, 'utf8');
    expect(src).not.to.match(/https?:\/\//);
    expect(src).not.to.match(/\beval\(|new Function|innerHTML|document\.write/);
  });

  it('registration: fetches options with the CSRF token, runs the ceremony, posts the result as a form', async () => {
    const button = new FakeElement('button', {
      passkey: 'register',
      optionsUrl: '/account/passkeys/options',
      finishUrl: '/account/passkeys',
      csrf: 'tok123',
      nameInput: 'pk-name',
      error: 'pk-error',
    });
    button.hidden = true;
    const name = new FakeElement('input', {}, { value: 'My laptop' });
    const error = new FakeElement('p', { message: 'It did not work' });
    error.hidden = true;
    const page = load([button], { 'pk-name': name, 'pk-error': error });
    expect(button.hidden, 'shown where WebAuthn works').to.equal(false);
    await button.click();
    expect(page.fetches).to.have.length(1);
    expect(page.fetches[0]?.url).to.equal('/account/passkeys/options');
    expect(page.fetches[0]?.init).to.deep.include({ method: 'POST', body: JSON.stringify({ csrf: 'tok123' }) });
    expect(page.fetches[0]?.init.headers['x-csrf-token']).to.equal('tok123');
    expect(page.calls).to.deep.equal([
      { method: 'startRegistration', arg: { optionsJSON: { challenge: 'Y2hhbGxlbmdl', rpId: 'id.example.test' } } },
    ]);
    const [form] = page.forms;
    expect(form).to.include({ method: 'post', action: '/account/passkeys', submitted: true });
    const fields = Object.fromEntries((form?.children ?? []).map((c) => [c.name, c.value]));
    expect(fields).to.deep.equal({
      csrf: 'tok123',
      response: JSON.stringify({ id: 'cred', rawId: 'cred', type: 'public-key', response: { clientDataJSON: 'e30' } }),
      name: 'My laptop',
    });
    expect(error.hidden).to.equal(true);
  });

  it('authentication failure shows the page’s message and re-enables the button; an abort stays quiet', async () => {
    const mk = () =>
      new FakeElement('button', {
        passkey: 'authenticate',
        optionsUrl: '/o',
        finishUrl: '/f',
        csrf: 't',
        csrfField: '_csrf',
        error: 'err',
      });
    const error = new FakeElement('p', { message: 'Passkey sign-in failed' });
    error.hidden = true;
    const b1 = mk();
    const p1 = load([b1], { err: error }, { fail: Object.assign(new Error('nope'), { name: 'NotAllowedError' }) });
    await b1.click();
    expect(p1.calls[0]?.method).to.equal('startAuthentication');
    expect(p1.forms).to.deep.equal([]);
    expect(error).to.include({ hidden: false, textContent: 'Passkey sign-in failed', focused: true });
    expect(b1.disabled).to.equal(false);

    const quiet = new FakeElement('p', { message: 'x' });
    quiet.hidden = true;
    const b2 = mk();
    load([b2], { err: quiet }, { fail: Object.assign(new Error('replaced'), { name: 'AbortError' }) });
    await b2.click();
    expect(quiet.hidden).to.equal(true);
  });

  it('conditional UI: starts an autofill ceremony when the browser supports it and posts with the chosen CSRF field', async () => {
    const input = new FakeElement('input', { passkey: 'autofill', optionsUrl: '/o', finishUrl: '/f', csrf: 't', csrfField: '_csrf' });
    const page = load([input], {}, { autofill: true });
    await tick();
    await tick();
    expect(page.calls).to.deep.equal([
      {
        method: 'startAuthentication',
        arg: { optionsJSON: { challenge: 'Y2hhbGxlbmdl', rpId: 'id.example.test' }, useBrowserAutofill: true },
      },
    ]);
    expect(page.forms[0]?.children.map((c) => c.name)).to.deep.equal(['_csrf', 'response']);
    const none = load([new FakeElement('input', { passkey: 'autofill', optionsUrl: '/o', finishUrl: '/f' })], {}, { autofill: false });
    await tick();
    expect(none.calls).to.deep.equal([]);
  });

  it('without WebAuthn the buttons stay hidden and nothing runs', async () => {
    const button = new FakeElement('button', { passkey: 'authenticate', optionsUrl: '/o', finishUrl: '/f', csrf: 't' });
    button.hidden = true;
    const page = load([button], {}, { supported: false });
    expect(button.hidden).to.equal(true);
    expect(button.listeners).to.deep.equal({});
    expect(page.fetches).to.deep.equal([]);
  });
});
