// PostgreSQL write accounting for the service under load: "0 writes per client_credentials /
// introspection" (DESIGN §7) is checked from the database's own counters, not from our code's opinion.
//
// Two sources, because they fail differently:
// - pg_stat_database (tup_inserted + tup_updated + tup_deleted, xact_commit) for the service's database:
//   counts rows, but a backend publishes its counters lazily: at a transaction end at most once a second,
//   otherwise from an idle timer (PGSTAT_IDLE_INTERVAL, 10 s). A snapshot taken right after a burst misses
//   that burst's last second, so after a window that used the database the caller takes the closing
//   snapshot >= STATS_FLUSH_MS after the load (bench/run.ts, Scenario.pgEveryRequest).
// - the next transaction id (pg_snapshot_xmax of the current snapshot): exact and immediate, counts write
//   transactions in the whole cluster (only the service writes there), and reading it assigns no id.
// Plus a per-table breakdown (pg_stat_all_tables, which is per database) that says *what* was written.
// That query runs in the service's database and so adds exactly one commit there per snapshot, which
// delta() takes back out; everything else the bench asks runs in the `postgres` database.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

/** Longest delay before an idle backend publishes pending counters (PostgreSQL's PGSTAT_IDLE_INTERVAL + margin). */
export const STATS_FLUSH_MS = 11_000;

export interface PgCounters {
  at: number;
  /** tup_inserted + tup_updated + tup_deleted of the service's database. */
  rows: number;
  /** Committed transactions (reads included: a cached hot path shows ~0 here too). */
  commits: number;
  /** Next transaction id of the cluster: its delta is the number of write transactions. */
  nextXid: number;
  /** Rows written per table (user and catalog tables) of the service's database. */
  tables: Record<string, number>;
  /** Runs of autovacuum's ANALYZE in the service's database (each one a write transaction of its own). */
  autoanalyze: number;
}

export interface PgDelta {
  seconds: number;
  rows: number;
  commits: number;
  writeXacts: number;
  /** Tables with rows written in the window (raw counts, not per operation). */
  tables: Record<string, number>;
  /** Autovacuum ANALYZE runs in the window: taken out of writeXacts, their catalog rows out of rows. */
  autoanalyze: number;
}

export class PgWriteProbe {
  readonly #client: pg.Client;
  readonly #service: pg.Client;
  readonly #database: string;
  readonly #connect: (database: string) => pg.Client;

  private constructor(client: pg.Client, service: pg.Client, database: string, connect: (database: string) => pg.Client) {
    this.#client = client;
    this.#service = service;
    this.#database = database;
    this.#connect = connect;
  }

  /** Connects to the embedded cluster the service created under dataDir (password file written by src/db/embedded.ts). */
  static async embedded(dataDir: string, port: number, database = 'iam'): Promise<PgWriteProbe> {
    const password = (await readFile(join(dataDir, 'postgres.password'), 'utf8')).trim();
    const connect = (db: string) => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'iam', password, database: db });
      // The service stops its embedded cluster on shutdown; a terminated idle connection is not an error here.
      client.on('error', () => undefined);
      return client;
    };
    const client = connect('postgres');
    const service = connect(database);
    await Promise.all([client.connect(), service.connect()]);
    return new PgWriteProbe(client, service, database, connect);
  }

  /**
   * VACUUM ANALYZE the service's database once its setup is done. Otherwise autovacuum analyses the
   * tables the setup filled (clients, revocation records) in the middle of a measured window, and its
   * catalog updates (pg_statistic) count as rows written in that database. Call it once the service's
   * counters are published (STATS_FLUSH_MS after its last request). This session's own counters are
   * published when it disconnects, so a snapshot may follow at once.
   */
  async quiesce(): Promise<void> {
    const client = this.#connect(this.#database);
    await client.connect();
    try {
      await client.query('vacuum (analyze)');
    } finally {
      await client.end();
    }
  }

  async snapshot(): Promise<PgCounters> {
    // First, so that its own commit is already published (a backend reports before ReadyForQuery when
    // its last report is over a second old) when pg_stat_database is read below.
    const perTable = await this.#service.query<{ name: string; w: string; aa: string }>(
      `select schemaname || '.' || relname as name, n_tup_ins + n_tup_upd + n_tup_del as w, autoanalyze_count as aa
         from pg_stat_all_tables where n_tup_ins + n_tup_upd + n_tup_del > 0 or autoanalyze_count > 0`,
    );
    const tables = Object.fromEntries(perTable.rows.filter((r) => Number(r.w) > 0).map((r) => [r.name, Number(r.w)]));
    const autoanalyze = perTable.rows.reduce((n, r) => n + Number(r.aa), 0);
    const { rows } = await this.#client.query<{ rows: string; commits: string; next_xid: string }>(
      `select tup_inserted + tup_updated + tup_deleted as rows, xact_commit as commits,
              pg_snapshot_xmax(pg_current_snapshot())::text as next_xid
         from pg_stat_database where datname = $1`,
      [this.#database],
    );
    const r = rows[0];
    if (!r) throw new Error(`database ${this.#database} not found in pg_stat_database`);
    return { at: Date.now(), rows: Number(r.rows), commits: Number(r.commits), nextXid: Number(r.next_xid), tables, autoanalyze };
  }

  async close(): Promise<void> {
    await Promise.all([this.#client.end().catch(() => undefined), this.#service.end().catch(() => undefined)]);
  }
}

export function delta(before: PgCounters, after: PgCounters): PgDelta {
  const tables: Record<string, number> = {};
  for (const [name, w] of Object.entries(after.tables)) {
    const d = w - (before.tables[name] ?? 0);
    if (d > 0) tables[name] = d;
  }
  // Autovacuum is PostgreSQL's own work, not the service's: a window that crossed a table's autoanalyze
  // threshold (the login row writes thousands of audit rows) gets one write transaction per ANALYZE and
  // its pg_statistic rows, which would be charged to the requests.
  const autoanalyze = after.autoanalyze - before.autoanalyze;
  const catalogRows =
    autoanalyze > 0
      ? Object.entries(tables)
          .filter(([name]) => name.startsWith('pg_catalog.') || name.startsWith('pg_toast.'))
          .reduce((n, [, w]) => n + w, 0)
      : 0;
  return {
    seconds: (after.at - before.at) / 1000,
    rows: Math.max(0, after.rows - before.rows - catalogRows),
    // Minus the closing snapshot's own per-table query.
    commits: Math.max(0, after.commits - before.commits - 1 - autoanalyze),
    writeXacts: Math.max(0, after.nextXid - before.nextXid - autoanalyze),
    tables,
    autoanalyze,
  };
}

/**
 * Per-operation figures: the window's delta minus what the idle service does in the same time
 * (background jobs: key refresh, outbox polling), divided by completed requests. Never below zero.
 */
export function perOperation(window: PgDelta, idle: PgDelta | undefined, requests: number): PgDelta {
  const rate = (v: number) => (idle && idle.seconds > 0 ? v / idle.seconds : 0);
  const net = (v: number, idleV: number) => Math.max(0, v - rate(idleV) * window.seconds);
  const per = (v: number) => (requests > 0 ? v / requests : 0);
  return {
    seconds: window.seconds,
    rows: per(net(window.rows, idle?.rows ?? 0)),
    commits: per(net(window.commits, idle?.commits ?? 0)),
    writeXacts: per(net(window.writeXacts, idle?.writeXacts ?? 0)),
    tables: window.tables,
    autoanalyze: window.autoanalyze,
  };
}
