import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The browser side of passkeys, served by this service itself (never from a CDN; ADR-0014):
 * `@simplewebauthn/browser`'s UMD bundle (defines `window.SimpleWebAuthnBrowser`) and the small
 * local script `assets/passkey.js` that drives it from data attributes (no inline script, so the
 * pages' CSP needs no `unsafe-inline`). Load the bundle first, both with `defer`.
 */

/** The package root of @simplewebauthn/browser (its `exports` hide deep paths from `import.meta.resolve`). */
function browserPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('@simplewebauthn/browser')));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@simplewebauthn/browser') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('@simplewebauthn/browser is not installed');
    dir = parent;
  }
}

/** Absolute path of `node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js`. */
export const SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH: string = join(browserPackageRoot(), 'dist', 'bundle', 'index.umd.min.js');

/** Absolute path of the local passkey script. */
export const PASSKEY_SCRIPT_PATH: string = join(import.meta.dirname, 'assets', 'passkey.js');

export interface PasskeyBrowserAsset {
  /** A stable file name to serve it under (the pages may add a content hash). */
  readonly plainName: string;
  readonly path: string;
  readonly type: 'text/javascript; charset=utf-8';
  readonly body: Buffer;
  /** Subresource-integrity value (`sha384-…`) for the script tag. */
  readonly integrity: string;
}

function asset(plainName: string, path: string): PasskeyBrowserAsset {
  const body = readFileSync(path);
  return {
    plainName,
    path,
    type: 'text/javascript; charset=utf-8',
    body,
    integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`,
  };
}

/** Both scripts, read from disk (call once at start-up): the library bundle first, then the passkey script. */
export function loadPasskeyBrowserAssets(): readonly [PasskeyBrowserAsset, PasskeyBrowserAsset] {
  return [asset('simplewebauthn-browser.umd.min.js', SIMPLEWEBAUTHN_BROWSER_BUNDLE_PATH), asset('passkey.js', PASSKEY_SCRIPT_PATH)];
}
