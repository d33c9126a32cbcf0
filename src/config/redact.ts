import { getPath, leafPaths, setPath } from './paths.ts';
import { type Config, configSchema, secretPaths } from './schema.ts';

/** Hides a URL's password but keeps host and database, so operators can still read where it points. */
function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '*****';
    if (u.username && !u.password && u.protocol.startsWith('redis')) u.username = '*****';
    return u.toString();
  } catch {
    return '[redacted]';
  }
}

export function redactValue(path: string, value: unknown): unknown {
  if (!secretPaths.has(path) || value === undefined) return value;
  return typeof value === 'string' && value.includes('://') ? redactUrl(value) : '[redacted]';
}

/** The effective configuration with every secret value redacted. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of leafPaths(configSchema)) setPath(out, path, redactValue(path, getPath(config, path)) ?? null);
  return out;
}
