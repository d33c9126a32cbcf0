import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { repoRoot } from './services.ts';

export interface ServiceProcess {
  child: ChildProcess;
  /** Signals the whole process group (npm, its shell and the service). */
  killGroup(signal: NodeJS.Signals): void;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** Runs a command from the repository root as a real child process, capturing its output. */
export function spawnProcess(command: string, args: string[], env: Record<string, string>): ServiceProcess {
  let out = '';
  let err = '';
  // Its own process group, so a signal can reach every process behind a launcher such as npm.
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  let signalledAt = 0;
  const origKill = child.kill.bind(child);
  child.kill = (sig?: NodeJS.Signals | number) => {
    signalledAt = Date.now();
    return origKill(sig);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((ok) =>
    child.on('exit', (code, signal) => ok({ code, signal, ms: signalledAt ? Date.now() - signalledAt : 0 })),
  );
  const killGroup = (signal: NodeJS.Signals) => {
    signalledAt = Date.now();
    if (child.pid) process.kill(-child.pid, signal);
  };
  return { child, killGroup, stdout: () => out, stderr: () => err, exited };
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

/** Polls a URL until it answers with the wanted status (bounded). */
export async function waitFor(url: string, status = 200, timeoutMs = 60_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status === status) return res;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
