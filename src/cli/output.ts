import YAML from 'yaml';

/** Human output: arrays of flat records as aligned tables, everything else as YAML. */
export function formatHuman(value: unknown): string {
  if (Array.isArray(value) && value.length && value.every((r) => r && typeof r === 'object' && !Array.isArray(r))) {
    const rows = value as Record<string, unknown>[];
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
    const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
    const line = (vals: string[]) =>
      vals
        .map((v, i) => v.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd();
    return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
  }
  if (Array.isArray(value) && !value.length) return '(none)';
  return YAML.stringify(value).trimEnd();
}
