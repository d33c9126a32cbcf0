// Child processes of the bench: the two servers. Each runs in its own process so that neither shares an
// event loop with the other or with the load generator. Everything started here is stopped on normal
// exit, on an error and on SIGINT/SIGTERM, so a run never leaves servers (or an embedded PostgreSQL) behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface Child {
  name: string;
  proc: ChildProcess;
  /** Captured output, shown only when something goes wrong. */
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<Child>();
const cleanups: Array<() => Promise<void>> = [];

/**
 * The environment for a child: ours without any IAM_* variable (a developer's shell settings must not
 * leak into the measured configuration), plus the given variables.
 */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('IAM_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `node <args>` (the bench's own Node 24) as a child process. */
export function spawnChild(name: string, args: string[], env: Record<string, string>, cwd: string): Child {
  let out = '';
  // Own process group: a Ctrl-C reaches only the bench, which then stops each child in order (a second
  // signal would make the service skip its graceful shutdown, which is what stops its PostgreSQL).
  // BENCH_CPU_PROF_DIR: each server writes a V8 CPU profile there on exit (NODE_OPTIONS refuses --cpu-prof).
  const prof = process.env.BENCH_CPU_PROF_DIR;
  const nodeArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=${name}.cpuprofile`, ...args] : args;
  const proc = spawn(process.execPath, nodeArgs, { cwd, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((ok) => proc.once('exit', (code) => ok(code)));
  const child: Child = {
    name,
    proc,
    output: () => out,
    exited,
    async stop(graceMs = 20_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** Registers a cleanup step that runs (in reverse order) after the children are stopped. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

let cleaning: Promise<void> | undefined;
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => c.stop()));
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err) => console.error(`bench: cleanup failed: ${err}`));
  })();
  return cleaning;
}

for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err) => {
    console.error(`bench: ${event}: ${(err as Error)?.stack ?? err}`);
    void cleanupAll().finally(() => process.exit(1));
  });
}

let signalledAt = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    // A Ctrl-C arrives several times at once (terminal, npm and the Node 24 launcher all forward it):
    // only a signal well after the first one means "stop now, skip the cleanup".
    if (signalledAt) {
      if (Date.now() - signalledAt > 2000) process.exit(130);
      return;
    }
    signalledAt = Date.now();
    console.error(`\nbench: ${sig}, stopping servers…`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** Polls a URL until it answers 200, failing early when the child exits. */
export async function waitReady(child: Child, url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${child.name} did not become ready at ${url}${exited ? ' (it exited)' : ''}:\n${child.output()}`);
}

export const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));
