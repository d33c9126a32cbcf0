import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { configSchema } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors/index.ts';
import { DEV_KEK_FILE, resolveKek } from '../../src/keys/index.ts';
import { createLogger } from '../../src/observability/logger.ts';

function capturingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
  });
  return { logger: createLogger({ level: 'info', destination: stream }), lines };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('keys: KEK resolution', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iam-kek-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('uses keys.kek when configured (base64 or base64url)', async () => {
    const kek = randomBytes(32);
    const { logger, lines } = capturingLogger();
    for (const encoded of [kek.toString('base64'), kek.toString('base64url')]) {
      const config = configSchema.parse({ env: 'production', data_dir: dir, keys: { kek: encoded } });
      expect((await resolveKek(config, logger)).equals(kek)).to.equal(true);
    }
    await flush();
    expect(lines.filter((l) => l.level === 'warn')).to.have.length(0);
  });

  it('outside production generates a dev KEK once, persists it 0600 and warns on every start', async () => {
    const config = configSchema.parse({ env: 'development', data_dir: join(dir, 'nested') });
    const { logger, lines } = capturingLogger();
    const first = await resolveKek(config, logger);
    const second = await resolveKek(config, logger);
    expect(first).to.have.length(32);
    expect(second.equals(first)).to.equal(true);
    const file = join(dir, 'nested', DEV_KEK_FILE);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64').equals(first)).to.equal(true);
    await flush();
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).to.have.length(2);
    expect(warnings[0]?.msg).to.match(/DEVELOPMENT KEK/);
    expect(JSON.stringify(lines)).not.to.contain(first.toString('base64'));
  });

  it('refuses production without a KEK', async () => {
    const config = { env: 'production' as const, data_dir: dir, keys: {} };
    const { logger } = capturingLogger();
    let caught: unknown;
    await resolveKek(config, logger).catch((err) => {
      caught = err;
    });
    expect(caught).to.be.instanceOf(ConfigError);
  });
});
