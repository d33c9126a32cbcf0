// A direct connection to the service's embedded PostgreSQL, for seeding what a scenario needs in bulk
// (the write paths are not what those scenarios measure). The service wrote its password under its data dir.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

export interface ServiceDb {
  dataDir: string;
  pgPort: number;
}

export async function connectServiceDb(db: ServiceDb): Promise<pg.Client> {
  const password = (await readFile(join(db.dataDir, 'postgres.password'), 'utf8')).trim();
  const c = new pg.Client({ host: '127.0.0.1', port: db.pgPort, user: 'iam', password, database: 'iam' });
  await c.connect();
  return c;
}
