import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Command } from 'commander';
import { registerKeysCommands } from '../../src/cli/commands/keys.ts';
import type { CliRuntime, RunCommand } from '../../src/cli/runtime.ts';
import type { Knex } from '../../src/db/knex.ts';
import { KeyError, type KeySummary } from '../../src/keys/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { testLogger } from '../support/services.ts';
import { keyService, keysConfig, newKek } from './support.ts';

/** Drives the real command definitions with a runtime bound to a test database. */
function cli(db: Knex, kek: Buffer) {
  const config = keysConfig();
  const rt: CliRuntime = { loaded: { config, sources: {} }, config, logger: testLogger, db: async () => db, kek: async () => kek };
  let last: unknown;
  const run: RunCommand = async (_cmd, fn) => {
    last = await fn(rt);
  };
  return async (...args: string[]) => {
    const program = new Command('iam')
      .option('--json')
      .exitOverride()
      .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerKeysCommands(program, run);
    await program.parseAsync(args, { from: 'user' });
    return last;
  };
}

describe('keys: iam keys CLI', function () {
  this.timeout(120_000);
  let source: TestDatabase;
  let target: TestDatabase;
  let dir: string;
  const kek = newKek();

  before(async () => {
    [source, target] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    dir = await mkdtemp(join(tmpdir(), 'iam-keys-cli-'));
    await keyService(source.db, kek).start();
  });
  after(async () => {
    await Promise.all([source.drop(), target.drop()]);
    await rm(dir, { recursive: true, force: true });
    delete process.env.IAM_TEST_ESCROW_PASS;
  });

  it('lists, rotates and revokes', async () => {
    const iam = cli(source.db, kek);
    const all = (await iam('keys', 'list', '--json')) as KeySummary[];
    expect(all.map((k) => [k.purpose, k.state])).to.deep.equal([
      ['access', 'active'],
      ['refresh', 'active'],
    ]);
    const table = (await iam('keys', 'list')) as Record<string, unknown>[];
    expect(Object.keys(table[0] ?? {})).to.include.members(['kid', 'purpose', 'state', 'published']);

    const rotated = (await iam('keys', 'rotate', '--purpose', 'refresh', '--immediate', '--json')) as { changes: { to: string }[] };
    expect(rotated.changes.map((c) => c.to)).to.deep.equal(['retired', 'active']);
    const bad = await iam('keys', 'rotate', '--purpose', 'signing').catch((e: unknown) => e);
    expect(String((bad as Error)?.message)).to.match(/Allowed choices are access, refresh/);

    const kid = all[0]?.kid as string;
    const revoked = (await iam('keys', 'revoke', kid, '--reason', 'drill')) as { changes: { to: string }[] };
    expect(revoked.changes.map((c) => c.to)).to.deep.equal(['revoked', 'active']);
  });

  it('exports to a 0600 file and imports with the passphrase taken from the environment only', async () => {
    const out = join(dir, 'escrow.json');
    const iam = cli(source.db, kek);
    let missing: unknown;
    await iam('keys', 'export', '--out', out, '--passphrase-env', 'IAM_TEST_ESCROW_PASS').catch((e: unknown) => {
      missing = e;
    });
    expect(String((missing as Error)?.message)).to.match(/IAM_TEST_ESCROW_PASS/);

    process.env.IAM_TEST_ESCROW_PASS = 'a long enough passphrase';
    const exported = (await iam('keys', 'export', '--out', out, '--passphrase-env', 'IAM_TEST_ESCROW_PASS')) as { keys: number };
    expect(exported.keys).to.be.greaterThan(0);
    expect((await stat(out)).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(await readFile(out, 'utf8'))).to.include({ format: 'iam-key-escrow' });

    const imported = (await cli(target.db, newKek())(
      'keys',
      'import',
      '--in',
      out,
      '--passphrase-env',
      'IAM_TEST_ESCROW_PASS',
      '--json',
    )) as {
      imported: number;
    };
    expect(imported.imported).to.equal(exported.keys);

    process.env.IAM_TEST_ESCROW_PASS = 'not the passphrase';
    const err = await cli(target.db, newKek())('keys', 'import', '--in', out, '--passphrase-env', 'IAM_TEST_ESCROW_PASS').catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(KeyError).with.property('reason', 'escrow_passphrase');
  });

  it('has no way to pass a passphrase on the command line', async () => {
    const err = await cli(source.db, kek)('keys', 'export', '--out', join(dir, 'x.json'), '--passphrase', 'secret secret secret').catch(
      (e: unknown) => e,
    );
    expect(String((err as Error)?.message)).to.match(/unknown option|required option/);
  });
});
