import type { Knex } from 'knex';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface WriteResult<T> {
  result: T;
  /** The tenant's authorization revision after the write (0 when it never had one). */
  revision: number;
}

/**
 * One admin change of a tenant: a transaction that first locks the tenant's authz revision row.
 * Every authz write bumps that row by trigger, so holding it serialises this transaction with
 * every other authz change of the tenant — whoever makes it — and the authority decision taken
 * inside sees exactly the state the write applies to (no check-then-act race, e.g. two owners
 * removing each other at once).
 */
export async function tenantWrite<T>(db: Knex, tenantId: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<WriteResult<T>> {
  return db.transaction(async (trx) => {
    await lockTenantRevision(trx, tenantId);
    const result = await fn(trx);
    return { result, revision: await currentRevision(trx, tenantId) };
  });
}

export async function lockTenantRevision(trx: Knex.Transaction, tenantId: string): Promise<void> {
  if (!UUID.test(tenantId)) return;
  await trx.raw(
    `insert into authz_revisions (tenant_id, revision)
       select id, 0 from tenants where id = ?::uuid
     on conflict (tenant_id) do nothing`,
    [tenantId],
  );
  await trx.raw('select revision from authz_revisions where tenant_id = ?::uuid for update', [tenantId]);
}

export async function currentRevision(trx: Knex | Knex.Transaction, tenantId: string): Promise<number> {
  if (!UUID.test(tenantId)) return 0;
  const row = await trx('authz_revisions').where({ tenant_id: tenantId }).first('revision');
  return Number(row?.revision ?? 0);
}
