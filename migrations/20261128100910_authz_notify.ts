import type { Knex } from 'knex';

/**
 * Cross-instance invalidation of the check API's grant cache (ADR-0016): every authz revision
 * bump also announces `<tenant_id>:<revision>` on the `iam_authz` channel. NOTIFY is
 * transactional, so listeners hear of a revision only once it is committed and readable.
 *
 * A workload's status feeds authorization (a disabled workload holds nothing), so status
 * changes of workload identities bump the revision too.
 */
export const config = { transaction: true };

const bumpFunction = (notify: boolean) => `
  create or replace function iam_bump_authz_revision() returns trigger
  language plpgsql as $fn$
  declare
    t uuid;
    rev bigint;
  begin
    if tg_table_name = 'tenants' then
      t := new.id;
    elsif tg_op = 'DELETE' then
      t := old.tenant_id;
    else
      t := new.tenant_id;
    end if;
    -- A cascade from deleting the tenant itself has nothing left to version.
    if not exists (select 1 from tenants where id = t) then
      return null;
    end if;
    insert into authz_revisions as r (tenant_id, revision, updated_at) values (t, 1, now())
      on conflict (tenant_id) do update set revision = r.revision + 1, updated_at = now()
      returning revision into rev;
    ${notify ? "perform pg_notify('iam_authz', t::text || ':' || rev::text);" : ''}
    -- A row moved between tenants (not expected, but never silently) versions both.
    if tg_op = 'UPDATE' and tg_table_name <> 'tenants' then
      if old.tenant_id is distinct from new.tenant_id then
        insert into authz_revisions as r (tenant_id, revision, updated_at) values (old.tenant_id, 1, now())
          on conflict (tenant_id) do update set revision = r.revision + 1, updated_at = now()
          returning revision into rev;
        ${notify ? "perform pg_notify('iam_authz', old.tenant_id::text || ':' || rev::text);" : ''}
      end if;
    end if;
    return null;
  end
  $fn$;
`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ${bumpFunction(true)}
    create or replace trigger workload_identities_authz_revision after update of status on workload_identities
      for each row when (old.status is distinct from new.status) execute function iam_bump_authz_revision();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger if exists workload_identities_authz_revision on workload_identities;
    ${bumpFunction(false)}
  `);
}
