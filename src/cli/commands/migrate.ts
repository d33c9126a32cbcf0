import type { Command } from 'commander';
import { withAdvisoryLock } from '../../db/locks.ts';
import { migrateLatest, migrateRollback, migrateStatus } from '../../db/migrate.ts';
import type { RunCommand } from '../runtime.ts';

export function registerMigrateCommands(program: Command, run: RunCommand): void {
  const migrate = program
    .command('migrate')
    .description('apply pending database migrations')
    .action((_opts: unknown, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const { batch, applied } = await withAdvisoryLock(db, 'iam:migrations', () => migrateLatest(db));
        return { batch, applied };
      }),
    );
  migrate
    .command('status')
    .description('list applied and pending migrations')
    .action((_opts: unknown, cmd: Command) => run(cmd, async (rt) => migrateStatus(await rt.db())));
  migrate
    .command('rollback')
    .description('roll back the last batch of migrations')
    .action((_opts: unknown, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const { batch, rolledBack } = await withAdvisoryLock(db, 'iam:migrations', () => migrateRollback(db));
        return { batch, rolled_back: rolledBack };
      }),
    );
}
