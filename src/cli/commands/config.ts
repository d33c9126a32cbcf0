import type { Command } from 'commander';
import { envName, redactConfig } from '../../config/index.ts';
import type { RunCommand } from '../runtime.ts';

export function registerConfigCommands(program: Command, run: RunCommand): void {
  const config = program.command('config').description('inspect configuration');
  config
    .command('print')
    .description('show the effective configuration (secrets redacted) and where each value came from')
    .option('--sources', 'include the source (default, file, env) of every key')
    .action((opts: { sources?: boolean }, cmd: Command) =>
      run(cmd, async (rt) => {
        const effective = redactConfig(rt.config);
        if (!opts.sources) return effective;
        const sources = Object.fromEntries(
          Object.entries(rt.loaded.sources).map(([k, v]) => [
            k,
            v === 'env' ? `env ${envName(k)}` : v === 'file' ? `file ${rt.loaded.file}` : v,
          ]),
        );
        return { config: effective, sources };
      }),
    );
}
