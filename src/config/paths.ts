import type { z } from 'zod';

type Def = { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType> };
const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const d = def(s);
    if (['default', 'prefault', 'optional', 'nullable'].includes(d.type) && d.innerType) s = d.innerType;
    else return s;
  }
}

/** Every leaf key of the configuration schema as a dotted path (`server.http_port`). */
export function leafPaths(schema: z.ZodType, prefix = ''): string[] {
  const d = def(unwrap(schema));
  if (d.type !== 'object' || !d.shape) return [prefix];
  return Object.entries(d.shape).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

/** `server.http_port` ↔ `IAM_SERVER_HTTP_PORT`. */
export const envName = (path: string) => `IAM_${path.replaceAll('.', '_').toUpperCase()}`;

export function getPath(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop() as string;
  let o = obj;
  for (const k of keys) {
    if (!o[k] || typeof o[k] !== 'object') o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[last] = value;
}
