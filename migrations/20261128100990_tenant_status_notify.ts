import type { Knex } from 'knex';

/**
 * A tenant's status decides whether its OAuth clients are usable (the client lookup joins it), and
 * every instance caches client lookups. Announcing a status change on the clients channel with an
 * empty payload ("drop everything") makes a suspension stop token issuance for the tenant's clients
 * on every instance as soon as it commits, instead of when the cache entries expire. NOTIFY is
 * transactional, so no instance reloads before the new status is readable.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function iam_tenant_status_notify() returns trigger
    language plpgsql as $fn$
    begin
      perform pg_notify('iam_clients_changed', '');
      return null;
    end
    $fn$;
    create or replace trigger tenants_status_clients_notify after update of status on tenants
      for each row when (old.status is distinct from new.status) execute function iam_tenant_status_notify();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger if exists tenants_status_clients_notify on tenants;
    drop function if exists iam_tenant_status_notify();
  `);
}
