import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPasskeyBrowserAssets } from '../src/webauthn/index.ts';

/** Where assets are served, below the issuer path. */
export const ASSETS_PATH = '/assets';

/** A static file of the pages, read once at start-up, addressed by a content hash (cacheable forever). */
export interface Asset {
  /** Path below the assets root, with the content hash: `iam.3f2a9c1d.css`. */
  readonly name: string;
  /** The unversioned name (`iam.css`), served with a short cache. */
  readonly plainName: string;
  readonly type: string;
  readonly body: Buffer;
  readonly etag: string;
  /** Subresource integrity (`sha384-…`), put on the script tags that load it. */
  readonly integrity: string;
}

/** An asset from its bytes (`file` is the plain name; the served name gets a content hash). */
export function assetFromBody(file: string, type: string, body: Buffer): Asset {
  const digest = createHash('sha256').update(body).digest('hex');
  const dot = file.lastIndexOf('.');
  return {
    name: `${file.slice(0, dot)}.${digest.slice(0, 12)}${file.slice(dot)}`,
    plainName: file,
    type,
    body,
    etag: `"${digest.slice(0, 32)}"`,
    integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`,
  };
}

/** Reads a file (default: from views/assets/) as an asset; add new ones to `ASSETS`. */
export function loadAsset(file: string, type: string, dir = join(import.meta.dirname, 'assets')): Asset {
  return assetFromBody(file, type, readFileSync(join(dir, file)));
}

/** The one stylesheet of every page. */
export const STYLESHEET: Asset = loadAsset('iam.css', 'text/css; charset=utf-8');

/**
 * The passkey pages' scripts (ADR-0014), served by us (never a CDN): `@simplewebauthn/browser`'s
 * UMD bundle, then `passkey.js` — in this order, both `defer`, by nonce and with SRI.
 */
export const PASSKEY_SCRIPTS: readonly Asset[] = loadPasskeyBrowserAssets().map((a) => assetFromBody(a.plainName, a.type, a.body));

/** Every asset served under `<prefix>/assets/`. */
export const ASSETS: readonly Asset[] = [STYLESHEET, ...PASSKEY_SCRIPTS];

/** The URL of an asset below the issuer path (`assetsBase`). */
export const assetUrl = (assetsBase: string, asset: Asset): string => `${assetsBase}${ASSETS_PATH}/${asset.name}`;
