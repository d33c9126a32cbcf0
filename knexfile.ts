// knex configuration for tooling that expects a knexfile. The service and the `iam migrate`
// command use the same migration source (src/db/migrate.ts) with the validated configuration.
import { loadConfig } from './src/config/index.ts';
import { TsMigrationSource } from './src/db/migrate.ts';

const { config } = loadConfig();

export default {
  client: 'pg',
  connection: config.database.url ?? `postgres://iam@127.0.0.1:${config.database.embedded_port}/iam`,
  migrations: { migrationSource: new TsMigrationSource(), tableName: 'knex_migrations' },
};
