// Enforces coverage-thresholds.json against c8's coverage/coverage-summary.json, per directory.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const thresholds = JSON.parse(readFileSync('coverage-thresholds.json', 'utf8'));
const summary = JSON.parse(readFileSync('coverage/coverage-summary.json', 'utf8'));
const totals = {};
for (const [file, data] of Object.entries(summary)) {
  if (file === 'total') continue;
  const rel = relative(process.cwd(), file);
  for (const dir of Object.keys(thresholds)) {
    if (dir.startsWith('_') || !rel.startsWith(`${dir}/`)) continue;
    totals[dir] ??= { covered: 0, total: 0 };
    totals[dir].covered += data.lines.covered;
    totals[dir].total += data.lines.total;
  }
}
let failed = false;
for (const [dir, min] of Object.entries(thresholds)) {
  if (dir.startsWith('_')) continue;
  const t = totals[dir];
  const pct = t?.total ? (100 * t.covered) / t.total : 0;
  const ok = pct >= min;
  failed ||= !ok;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${dir.padEnd(22)} ${pct.toFixed(1).padStart(5)}% lines (min ${min}%)`);
}
process.exit(failed ? 1 : 0);
