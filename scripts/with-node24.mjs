// Runs a script under Node.js 24, forwarding arguments, signals and the exit code.
import { spawn } from 'node:child_process';
import { node24Path } from './node24.mjs';

const node = node24Path();
const args = process.argv.slice(2);
if (node === process.execPath) {
  // Already on Node 24: load the target in this process (no extra process to signal).
  process.argv = [process.argv[0], ...args];
  const { pathToFileURL } = await import('node:url');
  const { resolve } = await import('node:path');
  await import(pathToFileURL(resolve(args[0])).href);
} else {
  const child = spawn(node, args, { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 1 : 1)));
}
