// Renders the results as one Markdown document: machine facts, the comparison table, footnotes, and a
// verdict line per DESIGN §7 target. The verdicts are informational (the README carries the numbers);
// nothing here decides the exit code.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { type PgDelta, STATS_FLUSH_MS } from './pg-writes.ts';
import type { LoadResult, Scenario } from './scenarios.ts';

export type Side = { load: LoadResult; note?: string } | { missing: string };

export interface Row {
  scenario: Scenario;
  baseline: Side;
  iam: Side;
  /** Per completed iam request (warm-up included), idle background subtracted. */
  pg?: PgDelta;
  /** Calls in flight on both servers (closed loop); absent: the run's default. */
  connections?: number;
}

export interface RunFacts {
  startedAt: Date;
  seconds: number;
  connections: number;
  warmupS: number;
  durationS: number;
  pools: { active: number; revoked: number };
  loadAtStart: number[];
  idle?: PgDelta;
}

export const THRESHOLDS = { ratio: 0.7, p99Ms: 20, writesPerOp: 0.005, boundRatio: 0.8, writeXactsPerLogin: 1 };

export function machineFacts(): { cpu: string; cores: number; node: string; commit: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: os.cpus() is good enough
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    if (dirty.trim()) commit += ' (+ uncommitted changes)';
  } catch {
    // not a git checkout
  }
  return { cpu, cores: cpus().length, node: process.version, commit };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => n.toFixed(2);
const per = (n: number) => (n === 0 ? '0' : n < 0.001 ? '<0.001' : n.toFixed(3));
const loaded = (s: Side): s is { load: LoadResult; note?: string } => 'load' in s;
const troubled = (l: LoadResult) => l.non2xx > 0 || l.errors > 0;

function errorsText(name: string, l: LoadResult): string | undefined {
  if (!troubled(l)) return undefined;
  const codes = Object.entries(l.statusCodes)
    .filter(([c]) => !c.startsWith('2'))
    .map(([c, n]) => `${c}×${n}`)
    .join(', ');
  const sample = l.sample ? `; first bad answer: \`${l.sample.replace(/`/g, "'")}\`` : '';
  return `${name}: ${l.non2xx} non-2xx${codes ? ` (${codes})` : ''}, ${l.errors} socket errors/timeouts/wrong 2xx answers${sample}`;
}

/** Non-2xx answers plus socket errors, timeouts and wrong answers. */
const failed = (s: Side) => (loaded(s) ? int(s.load.non2xx + s.load.errors) : '—');

export function ratioOf(row: Row): number | undefined {
  if (!loaded(row.iam) || !loaded(row.baseline) || row.baseline.load.rps === 0) return undefined;
  return row.iam.load.rps / row.baseline.load.rps;
}

export function renderReport(rows: Row[], facts: RunFacts): string {
  const m = machineFacts();
  const out: string[] = [];
  out.push('# InfraNotes IAM benchmark', '');
  out.push(`- Date: ${facts.startedAt.toISOString()} (run took ${Math.round(facts.seconds)} s)`);
  out.push(`- Machine: ${m.cpu}, ${m.cores} cores; load average at start ${facts.loadAtStart.map((l) => l.toFixed(2)).join(' / ')}`);
  out.push(`- Node.js ${m.node}; commit ${m.commit}`);
  out.push(
    `- Load: autocannon (HTTP) and a hand-framed HTTP/2 client (gRPC, bench/grpc-load.ts over bench/h2-wire.ts) in the bench process, ${facts.connections} keep-alive ` +
      'connections over loopback unless the conns column says otherwise, ' +
      `${facts.warmupS} s warm-up + ${facts.durationS} s measured per scenario and server, the measured time in two rounds ` +
      `per server alternating baseline · iam · baseline · iam where a row has both; ` +
      `introspection round-robins over ${facts.pools.active} distinct tokens per format (${facts.pools.revoked} revoked)`,
  );
  out.push(
    '- baseline: bare oidc-provider 9.13.3, in-memory adapter, static client; iam: `node src/main.ts` on embedded PostgreSQL 18 + Redis',
  );
  out.push('');
  out.push(
    '| Operation | conns | baseline req/s | p50 ms | p99 ms | iam req/s | p50 ms | p99 ms | iam/baseline | PG rows written/op | PG write xacts/op | PG commits/op | failed (baseline · iam) |',
  );
  out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  const notes: string[] = [];
  for (const row of rows) {
    const cells = (s: Side, name: string) => {
      if (!loaded(s)) {
        notes.push(`${row.scenario.title} — ${name} not measured: ${s.missing}`);
        return ['—', '—', '—'];
      }
      if (s.note) notes.push(`${row.scenario.title} — ${s.note}`);
      const b = s.load.bound;
      if (b)
        notes.push(`${row.scenario.title} — ${name}: bound ${int(b.rps)}/s measured in this run (${b.label}); ratio ${boundText(s.load)}`);
      const err = errorsText(name, s.load);
      if (err) notes.push(`${row.scenario.title} — ${err}`);
      return [int(s.load.rps), ms(s.load.p50), ms(s.load.p99)];
    };
    const bad = [row.baseline, row.iam].some((s) => loaded(s) && troubled(s.load));
    const r = ratioOf(row);
    const pg = row.pg;
    out.push(
      `| ${row.scenario.title}${bad ? ' ⚠ errors' : ''} | ${row.connections ?? facts.connections} | ${cells(row.baseline, 'baseline').join(' | ')} | ${cells(row.iam, 'iam').join(' | ')} | ` +
        `${r === undefined ? '—' : `${Math.round(r * 100)} %`} | ${pg ? per(pg.rows) : '—'} | ${pg ? per(pg.writeXacts) : '—'} | ${pg ? per(pg.commits) : '—'} | ` +
        `${failed(row.baseline)} · ${failed(row.iam)} |`,
    );
  }
  out.push('');
  out.push(
    'PostgreSQL columns (iam only): deltas of `pg_stat_database` (`tup_inserted + tup_updated + tup_deleted`, `xact_commit`) for ' +
      "the service's database and of the cluster's next transaction id (= write transactions), from before the warm-up to " +
      `the next window, which starts ≥ ${STATS_FLUSH_MS / 1000} s after this one when this row uses PostgreSQL on every request ` +
      "(PostgreSQL publishes a backend's counters up to 10 s late), divided by " +
      'completed requests (warm-up + measured), minus an idle window of the same service; the database is vacuumed and ' +
      'analysed after setup so autovacuum does not write catalog rows mid-window' +
      (facts.idle
        ? ` (idle: ${facts.idle.rows} rows, ${facts.idle.writeXacts} write xacts, ${facts.idle.commits} commits in ${facts.idle.seconds.toFixed(1)} s).`
        : '.'),
  );
  for (const row of rows) {
    const written = Object.entries(row.pg?.tables ?? {}).sort((a, b) => b[1] - a[1]);
    if (written.length)
      notes.push(`${row.scenario.title} — iam rows written in the window: ${written.map(([t, n]) => `${t} ${n}`).join(', ')}`);
    if (row.pg?.autoanalyze)
      notes.push(
        `${row.scenario.title} — autovacuum analysed ${row.pg.autoanalyze} table(s) in the window: their write transactions, commits and catalog rows (pg_catalog, pg_toast) are not counted per operation`,
      );
  }
  if (notes.length) out.push('', ...notes.map((n) => `- ${n}`));
  out.push('', ...verdicts(rows));
  return `${out.join('\n')}\n`;
}

function verdicts(rows: Row[]): string[] {
  const gated = rows.filter((r) => r.scenario.gated);
  // A figure earned with failing requests proves nothing: such a check fails whatever its value.
  const clean = (r: Row) => ![r.baseline, r.iam].some((s) => loaded(s) && troubled(s.load));
  const check = (r: Row, value: string | undefined, ok: boolean | undefined) => ({
    title: r.scenario.title,
    value: value === undefined ? undefined : `${value}${clean(r) ? '' : ' (with failed requests)'}`,
    ok: ok === undefined ? undefined : ok && clean(r),
  });
  const line = (label: string, checks: Array<{ title: string; value?: string; ok?: boolean }>) => {
    // Nothing measured (a BENCH_ONLY subset without such rows) is not a pass.
    const missing = checks.length === 0 || checks.some((c) => c.ok === undefined);
    const verdict = missing ? 'INCOMPLETE' : checks.every((c) => c.ok) ? 'PASS' : 'FAIL';
    return `**${verdict}** ${label}: ${checks.map((c) => `${c.title} ${c.value ?? 'not measured'}${c.ok === false ? ' ✗' : ''}`).join('; ')}`;
  };
  const ratio = line(
    `client_credentials and introspection ≥ ${THRESHOLDS.ratio * 100} % of baseline`,
    gated.map((r) => {
      const v = ratioOf(r);
      return check(r, v === undefined ? undefined : `${Math.round(v * 100)} %`, v === undefined ? undefined : v >= THRESHOLDS.ratio);
    }),
  );
  const p99 = line(
    `p99 ≤ ${THRESHOLDS.p99Ms} ms at that load (iam)`,
    gated.map((r) =>
      'load' in r.iam ? check(r, `${ms(r.iam.load.p99)} ms`, r.iam.load.p99 <= THRESHOLDS.p99Ms) : check(r, undefined, undefined),
    ),
  );
  const writes = line(
    '0 PostgreSQL writes per client_credentials and introspection (rows written/op rounds to 0.00)',
    rows
      .filter((r) => r.scenario.zeroWrites)
      .map((r) => (r.pg ? check(r, per(r.pg.rows), r.pg.rows < THRESHOLDS.writesPerOp) : check(r, undefined, undefined))),
  );
  const out = [`- ${ratio}`, `- ${p99}`, `- ${writes}`];
  // Rows with a latency target of their own (the check API), judged at their own concurrency.
  const targeted = rows.filter((r) => r.scenario.p99TargetMs !== undefined);
  if (targeted.length) {
    out.push(
      `- ${line(
        'check API p99 below its target at the measured throughput (iam, DESIGN §7: < 2 ms cached, < 10 ms uncached)',
        targeted.map((r) => {
          const target = r.scenario.p99TargetMs as number;
          if (!loaded(r.iam)) return check(r, undefined, undefined);
          const l = r.iam.load;
          // The transport floor (bench/transport-floor.ts) beside it: how much of the target the machine and
          // the transport take before IAM does any work.
          const floor = loaded(r.baseline) ? `; transport floor ${ms(r.baseline.load.p99)} ms at ${int(r.baseline.load.rps)}/s` : '';
          return check(
            r,
            `${ms(l.p99)} ms (target < ${target} ms; ${int(l.rps)}/s at ${r.connections ?? '?'} conns${floor})`,
            l.p99 < target,
          );
        }),
      )}`,
    );
  }
  // Rows judged against a ceiling of their own (password login: the argon2 bound), not the baseline.
  const bounded = rows.filter((r) => loaded(r.iam) && r.iam.load.bound);
  if (bounded.length) {
    out.push(
      `- ${line(
        `password login ≥ ${THRESHOLDS.boundRatio * 100} % of the argon2 bound`,
        bounded.map((r) => {
          const l = (r.iam as { load: LoadResult }).load;
          const v = l.bound && l.bound.rps > 0 ? l.rps / l.bound.rps : undefined;
          return check(r, boundText(l), v === undefined ? undefined : v >= THRESHOLDS.boundRatio);
        }),
      )}`,
      `- ${line(
        `≤ ${THRESHOLDS.writeXactsPerLogin} PostgreSQL write transaction per completed login`,
        bounded.map((r) =>
          r.pg
            ? check(
                r,
                `${per(r.pg.writeXacts)} write xacts/login`,
                r.pg.writeXacts <= THRESHOLDS.writeXactsPerLogin + THRESHOLDS.writesPerOp,
              )
            : check(r, undefined, undefined),
        ),
      )}`,
    );
  }
  return out;
}

/** `12.3 logins/s ÷ 15.0 bound = 82 %`. */
function boundText(l: LoadResult): string {
  if (!l.bound || l.bound.rps <= 0) return 'no bound measured';
  return `${l.rps.toFixed(1)}/s ÷ ${l.bound.rps.toFixed(1)}/s = ${Math.round((l.rps / l.bound.rps) * 100)} %`;
}

export function loadAverage(): number[] {
  return loadavg();
}
