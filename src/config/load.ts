import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../errors/index.ts';
import { envName, getPath, leafPaths, setPath } from './paths.ts';
import { type Config, configSchema } from './schema.ts';

export type ConfigSource = 'default' | 'file' | 'env';
export interface LoadedConfig {
  config: Readonly<Config>;
  /** Where each leaf value came from, for `iam config print` and error messages. */
  sources: Record<string, ConfigSource>;
  file?: string;
}

export interface LoadOptions {
  /** Explicit config file (`--config`); otherwise IAM_CONFIG, then configs/iam.yaml if present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const knownPaths = leafPaths(configSchema);

function findFile(opts: LoadOptions, env: NodeJS.ProcessEnv): string | undefined {
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.file ?? env.IAM_CONFIG;
  if (explicit) {
    const p = resolve(cwd, explicit);
    if (!existsSync(p)) throw new ConfigError(`config file ${p} does not exist`);
    return p;
  }
  const dflt = resolve(cwd, 'configs/iam.yaml');
  return existsSync(dflt) ? dflt : undefined;
}

/** Defaults < YAML file < IAM_* environment variables, validated by one schema. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = findFile(opts, env);
  const raw: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};

  if (file) {
    let doc: unknown;
    try {
      doc = YAML.parse(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file} must hold a mapping`);
    for (const path of knownPaths) {
      const v = getPath(doc, path);
      if (v !== undefined && v !== null) {
        setPath(raw, path, v);
        sources[path] = 'file';
      }
    }
    const unknown = listLeaves(doc).filter((p) => !knownPaths.includes(p));
    if (unknown.length) throw new ConfigError(`config file ${file}: unknown key(s) ${unknown.join(', ')}`);
  }
  for (const path of knownPaths) {
    const v = env[envName(path)];
    if (v !== undefined) {
      setPath(raw, path, v);
      sources[path] = 'env';
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const path = i.path.join('.');
      const from = sources[path] === 'env' ? ` (from ${envName(path)})` : sources[path] === 'file' ? ` (from ${file})` : '';
      return `  ${path}: ${i.message}${from}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  for (const path of knownPaths) sources[path] ??= 'default';
  const config = deepFreeze(parsed.data);
  assertProductionSafe(config);
  return { config, sources, file };
}

function listLeaves(obj: unknown, prefix = ''): string[] {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return prefix ? [prefix] : [];
  return Object.entries(obj).flatMap(([k, v]) => listLeaves(v, prefix ? `${prefix}.${k}` : k));
}

/** Production must never run on development conveniences. */
function assertProductionSafe(c: Config): void {
  if (c.env !== 'production') return;
  const problems: string[] = [];
  if (!c.keys.kek) problems.push('  keys.kek: required in production (no generated development KEK)');
  if (!c.database.url) problems.push('  database.url: required in production (no embedded PostgreSQL)');
  if (!c.redis.url) problems.push('  redis.url: required in production (the in-process store is single-instance)');
  if (!c.issuer.startsWith('https://')) problems.push('  issuer: must be https in production');
  if (!c.kafka.brokers.length) problems.push('  kafka.brokers: required in production (events would only pile up in the outbox)');
  if (!c.mail.smtp_url) problems.push('  mail.smtp_url: required in production (the development mailbox exposes live links)');
  if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
