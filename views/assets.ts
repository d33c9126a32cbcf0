import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
}

/** Reads a file (default: from views/assets/) as an asset; add new ones to `ASSETS`. */
export function loadAsset(file: string, type: string, dir = join(import.meta.dirname, 'assets')): Asset {
  const body = readFileSync(join(dir, file));
  const digest = createHash('sha256').update(body).digest('hex');
  const dot = file.lastIndexOf('.');
  return {
    name: `${file.slice(0, dot)}.${digest.slice(0, 12)}${file.slice(dot)}`,
    plainName: file,
    type,
    body,
    etag: `"${digest.slice(0, 32)}"`,
  };
}

/** The one stylesheet of every page. */
export const STYLESHEET: Asset = loadAsset('iam.css', 'text/css; charset=utf-8');

/** Every asset served under `<prefix>/assets/` (e.g. a passkey page's browser helper joins here). */
export const ASSETS: readonly Asset[] = [STYLESHEET];

/** The URL of an asset below the issuer path (`assetsBase`). */
export const assetUrl = (assetsBase: string, asset: Asset): string => `${assetsBase}${ASSETS_PATH}/${asset.name}`;
