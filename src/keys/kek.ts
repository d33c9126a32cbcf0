import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import { kekId } from './envelope.ts';

export const DEV_KEK_FILE = 'dev-kek';

type KekConfig = Pick<Config, 'env' | 'data_dir'> & { keys: Pick<Config['keys'], 'kek'> };

/**
 * The key-encryption key for private keys at rest: `keys.kek` when configured. Outside
 * production a missing KEK is generated once and kept in `<data_dir>/dev-kek` so a restart can
 * still read its keys; that is a development convenience, so every start says so loudly.
 */
export async function resolveKek(config: KekConfig, logger: Logger): Promise<Buffer> {
  if (config.keys.kek) return decodeKek(config.keys.kek, 'keys.kek');
  if (config.env === 'production') throw new ConfigError('keys.kek: required in production (no generated development KEK)');

  const file = join(resolve(config.data_dir), DEV_KEK_FILE);
  const kek = await readOrCreateDevKek(file);
  logger.warn(
    { kek_file: file, kek_id: kekId(kek) },
    'USING A GENERATED DEVELOPMENT KEK: private signing keys are encrypted with a key stored next to the data. Set keys.kek (IAM_KEYS_KEK) for any real deployment.',
  );
  return kek;
}

function decodeKek(encoded: string, where: string): Buffer {
  const kek = Buffer.from(encoded.trim(), 'base64');
  if (kek.length !== 32) throw new ConfigError(`${where}: must be 32 bytes encoded as base64`);
  return kek;
}

async function readOrCreateDevKek(file: string): Promise<Buffer> {
  try {
    return decodeKek(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(resolve(file, '..'), { recursive: true, mode: 0o700 });
  const encoded = randomBytes(32).toString('base64');
  try {
    // 'wx': when two processes start at once, the loser reads the winner's KEK instead of replacing it.
    await writeFile(file, `${encoded}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return decodeKek(await readFile(file, 'utf8'), file);
  }
  return Buffer.from(encoded, 'base64');
}
