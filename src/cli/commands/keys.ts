import { chmod, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { AppError } from '../../errors/index.ts';
import {
  createKeyService,
  exportEscrow,
  importEscrow,
  KEY_PURPOSES,
  KeyError,
  type KeyPurpose,
  type KeySummary,
  listKeys,
} from '../../keys/index.ts';
import type { CliRuntime, RunCommand } from '../runtime.ts';

/** The columns an operator scans in a terminal; --json carries every field. */
export function keyTableRows(keys: KeySummary[]) {
  return keys.map((k) => ({
    kid: k.kid,
    purpose: k.purpose,
    alg: k.alg,
    state: k.state,
    published: k.published ? 'yes' : 'no',
    activates_at: k.activates_at,
    activated_at: k.activated_at,
    remove_after: k.remove_after,
    revoke_reason: k.revoke_reason,
  }));
}

/** Passphrases travel only through the environment: never argv (ps, shell history), never a prompt (scripts). */
function passphraseFrom(varName: string): string {
  const value = process.env[varName];
  if (!value) throw new AppError('validation_failed', { detail: `environment variable ${varName} (--passphrase-env) is not set or empty` });
  return value;
}

async function keyService(rt: CliRuntime) {
  return createKeyService({ db: await rt.db(), kek: await rt.kek(), config: rt.config, logger: rt.logger });
}

const wantsJson = (cmd: Command) => Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);

export function registerKeysCommands(program: Command, run: RunCommand): void {
  const keys = program.command('keys').description('issuer signing keys: list, rotate, revoke, escrow export/import');

  keys
    .command('list')
    .description('list signing keys in every state')
    .action((_opts: unknown, cmd: Command) =>
      run(cmd, async (rt) => {
        const all = await listKeys(await rt.db());
        return wantsJson(cmd) ? all : keyTableRows(all);
      }),
    );

  keys
    .command('rotate')
    .description('publish a new key that signs after keys.publish_lead_s (or at once with --immediate)')
    .addOption(new Option('--purpose <purpose>', 'key purpose').choices(KEY_PURPOSES).makeOptionMandatory())
    .option('--immediate', 'sign with the new key now, skipping the publish lead (verifiers may not have it yet)')
    .action((opts: { purpose: KeyPurpose; immediate?: boolean }, cmd: Command) =>
      run(cmd, async (rt) => {
        const changes = await (await keyService(rt)).rotate(opts.purpose, { immediate: opts.immediate });
        return { purpose: opts.purpose, immediate: Boolean(opts.immediate), changes };
      }),
    );

  keys
    .command('revoke')
    .description('emergency revoke: unpublish a key at once (an active key is replaced immediately)')
    .argument('<kid>', 'key id')
    .requiredOption('--reason <text>', 'why the key is revoked (kept with the key)')
    .action((kid: string, opts: { reason: string }, cmd: Command) =>
      run(cmd, async (rt) => ({ kid, changes: await (await keyService(rt)).revoke(kid, opts.reason) })),
    );

  keys
    .command('export')
    .description('write a passphrase-encrypted escrow bundle of all non-removed keys')
    .requiredOption('--out <file>', 'bundle file to write (mode 0600)')
    .requiredOption('--passphrase-env <var>', 'environment variable holding the passphrase (>= 12 characters)')
    .action((opts: { out: string; passphraseEnv: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const passphrase = passphraseFrom(opts.passphraseEnv);
        const db = await rt.db();
        const bundle = await exportEscrow(db, await rt.kek(), passphrase);
        const out = resolve(opts.out);
        await writeFile(out, `${JSON.stringify(bundle, null, 2)}\n`, { mode: 0o600 });
        // mode applies only on creation; an overwritten file keeps its old permissions otherwise.
        await chmod(out, 0o600);
        const kept = (await listKeys(db)).filter((k) => k.state !== 'removed').length;
        return { out, created_at: bundle.created_at, keys: kept };
      }),
    );

  keys
    .command('import')
    .description('restore an escrow bundle under the configured KEK (existing kids are skipped)')
    .requiredOption('--in <file>', 'bundle file to read')
    .requiredOption('--passphrase-env <var>', 'environment variable holding the passphrase')
    .action((opts: { in: string; passphraseEnv: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const passphrase = passphraseFrom(opts.passphraseEnv);
        let bundle: unknown;
        try {
          bundle = JSON.parse(await readFile(resolve(opts.in), 'utf8'));
        } catch (cause) {
          throw new KeyError('escrow_invalid', `cannot read escrow bundle ${opts.in}: ${(cause as Error).message}`, { cause });
        }
        const result = await importEscrow(await rt.db(), await rt.kek(), bundle, passphrase, {
          retireGraceS: rt.config.keys.retire_grace_s,
        });
        return { in: resolve(opts.in), ...result };
      }),
    );
}
