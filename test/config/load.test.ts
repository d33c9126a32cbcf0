import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { envName, leafPaths, loadConfig, redactConfig } from '../../src/config/index.ts';
import { configSchema } from '../../src/config/schema.ts';
import { ConfigError } from '../../src/errors/index.ts';

function yamlFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'iam-config-'));
  const file = join(dir, 'iam.yaml');
  writeFileSync(file, content);
  return file;
}

const KEK = Buffer.alloc(32, 7).toString('base64');

describe('configuration', () => {
  it('applies defaults when nothing is set', () => {
    const { config, sources } = loadConfig({ env: {}, cwd: tmpdir() });
    expect(config.server.http_port).to.equal(8080);
    expect(config.database.url).to.equal(undefined);
    expect(config.kafka.brokers).to.deep.equal([]);
    expect(sources['server.http_port']).to.equal('default');
  });

  it('lets the YAML file override defaults and the environment override the file', () => {
    const file = yamlFile('server:\n  http_port: 9000\n  host: 127.0.0.1\nlog:\n  level: debug\n');
    const fileOnly = loadConfig({ file, env: {} });
    expect(fileOnly.config.server.http_port).to.equal(9000);
    expect(fileOnly.sources['server.http_port']).to.equal('file');
    const both = loadConfig({ file, env: { IAM_SERVER_HTTP_PORT: '9100' } });
    expect(both.config.server.http_port).to.equal(9100);
    expect(both.config.server.host).to.equal('127.0.0.1');
    expect(both.config.log.level).to.equal('debug');
    expect(both.sources['server.http_port']).to.equal('env');
  });

  it('finds the file through IAM_CONFIG', () => {
    const file = yamlFile('issuer: https://id.example.com\n');
    expect(loadConfig({ env: { IAM_CONFIG: file } }).config.issuer).to.equal('https://id.example.com');
  });

  it('maps every dotted key to an IAM_ environment variable', () => {
    expect(envName('server.http_port')).to.equal('IAM_SERVER_HTTP_PORT');
    const paths = leafPaths(configSchema);
    for (const p of ['issuer', 'server.http_port', 'database.url', 'redis.url', 'kafka.brokers', 'mail.smtp_url', 'keys.kek']) {
      expect(paths).to.include(p);
    }
  });

  it('parses typed environment values (lists, booleans, numbers)', () => {
    const { config } = loadConfig({
      env: { IAM_KAFKA_BROKERS: 'a:9092, b:9092', IAM_DATABASE_MIGRATE_ON_START: 'false', IAM_OUTBOX_BATCH_SIZE: '50' },
      cwd: tmpdir(),
    });
    expect(config.kafka.brokers).to.deep.equal(['a:9092', 'b:9092']);
    expect(config.database.migrate_on_start).to.equal(false);
    expect(config.outbox.batch_size).to.equal(50);
  });

  it('rejects an invalid value naming the key and its source', () => {
    const attempt = () => loadConfig({ env: { IAM_SERVER_HTTP_PORT: 'eighty' }, cwd: tmpdir() });
    expect(attempt).to.throw(ConfigError, /server\.http_port.*IAM_SERVER_HTTP_PORT/);
    expect(() => loadConfig({ env: { IAM_KEYS_KEK: 'c2hvcnQ=' }, cwd: tmpdir() })).to.throw(ConfigError, /keys\.kek: must be 32 bytes/);
    expect(() => loadConfig({ env: { IAM_DATABASE_URL: 'mysql://x' }, cwd: tmpdir() })).to.throw(ConfigError, /database\.url/);
  });

  it('rejects unknown keys in the file (typos must not be silently ignored)', () => {
    const file = yamlFile('server:\n  http_prot: 9000\n');
    expect(() => loadConfig({ file, env: {} })).to.throw(ConfigError, /unknown key\(s\) server\.http_prot/);
  });

  it('refuses development conveniences in production', () => {
    expect(() => loadConfig({ env: { IAM_ENV: 'production' }, cwd: tmpdir() })).to.throw(ConfigError, /keys\.kek: required in production/);
    const ok = loadConfig({
      env: {
        IAM_ENV: 'production',
        IAM_KEYS_KEK: KEK,
        IAM_DATABASE_URL: 'postgres://iam:pw@db/iam',
        IAM_REDIS_URL: 'redis://cache:6379',
        IAM_ISSUER: 'https://id.example.com',
        IAM_KAFKA_BROKERS: 'kafka:9092',
        IAM_MAIL_SMTP_URL: 'smtp://mail:25',
      },
      cwd: tmpdir(),
    });
    expect(ok.config.env).to.equal('production');
  });

  it('redacts secrets when printing', () => {
    const { config } = loadConfig({
      env: { IAM_KEYS_KEK: KEK, IAM_DATABASE_URL: 'postgres://iam:hunter2@db:5432/iam', IAM_MAIL_SMTP_URL: 'smtp://u:p@mail:25' },
      cwd: tmpdir(),
    });
    const printed = JSON.stringify(redactConfig(config));
    expect(printed).not.to.include(KEK);
    expect(printed).not.to.include('hunter2');
    expect(printed).to.include('db:5432/iam');
    expect((redactConfig(config).keys as { kek: string }).kek).to.equal('[redacted]');
  });

  it('the example configuration documents every key and validates', () => {
    const loaded = loadConfig({ file: join(import.meta.dirname, '..', '..', 'configs', 'iam.example.yaml'), env: {} });
    const fromFile = Object.entries(loaded.sources)
      .filter(([, s]) => s === 'file')
      .map(([k]) => k);
    const missing = leafPaths(configSchema).filter(
      (p) => !fromFile.includes(p) && !['keys.kek', 'database.url', 'redis.url', 'mail.smtp_url'].includes(p),
    );
    expect(missing, 'keys missing from configs/iam.example.yaml').to.deep.equal([]);
  });
});
