import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  config?: { transaction?: boolean };
}

/**
 * Loads `migrations/*.ts` with Node's own TypeScript support, so knex needs no
 * transpiler hook. Names sort by their timestamp prefix.
 */
export class TsMigrationSource implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    const files = await readdir(migrationsDir);
    return files.filter((f) => /^\d{14}_[a-z0-9_]+\.ts$/.test(f)).sort();
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    const mod = (await import(pathToFileURL(join(migrationsDir, name)).href)) as MigrationModule;
    return { up: mod.up, down: mod.down, config: { transaction: mod.config?.transaction ?? true } } as Knex.Migration;
  }
}

const migratorConfig = (): Knex.MigratorConfig => ({
  migrationSource: new TsMigrationSource(),
  tableName: 'knex_migrations',
  // One transaction per migration; a failure leaves the database at the previous step.
  disableTransactions: false,
});

export async function migrateLatest(db: Knex): Promise<{ batch: number; applied: string[] }> {
  const [batch, applied] = await db.migrate.latest(migratorConfig());
  return { batch, applied };
}

export async function migrateRollback(db: Knex): Promise<{ batch: number; rolledBack: string[] }> {
  const [batch, rolledBack] = await db.migrate.rollback(migratorConfig());
  return { batch, rolledBack };
}

export interface MigrationStatus {
  applied: { name: string; batch: number; migrated_at: string }[];
  pending: string[];
}

export async function migrateStatus(db: Knex): Promise<MigrationStatus> {
  const [, pending] = (await db.migrate.list(migratorConfig())) as [unknown, string[] | { file: string }[]];
  const hasTable = await db.schema.hasTable('knex_migrations');
  const applied = hasTable
    ? ((await db('knex_migrations').select('name', 'batch', 'migration_time').orderBy('id')) as {
        name: string;
        batch: number;
        migration_time: Date;
      }[])
    : [];
  return {
    applied: applied.map((r) => ({ name: r.name, batch: r.batch, migrated_at: new Date(r.migration_time).toISOString() })),
    pending: pending.map((p) => (typeof p === 'string' ? p : p.file)),
  };
}
