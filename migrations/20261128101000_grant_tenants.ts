import type { Knex } from 'knex';

/**
 * The tenant a grant of a platform client was issued for (issue 5: a user picks a tenant at
 * sign-in; tenant-scoped tokens carry `tid`). The engine's Grant model keeps only its own
 * members, so the selection lives beside it, keyed by the grant id (stored plain in
 * `oidc_models`). A row is written once, before any token of the grant exists, and never
 * changed: switching tenants makes a new grant, so every token of a grant — refreshed ones too —
 * names the same tenant. No foreign key to tenants on purpose: a purged tenant must not turn its
 * grants into grants without a tenant (broader tokens); the row goes with its grant instead.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists grant_tenants (
      grant_id   text primary key,
      tenant_id  uuid not null,
      account_id text not null,
      client_id  text not null,
      -- The engine session the grant was made in: switching back to a tenant reuses that session's grant.
      session_uid text,
      created_at timestamptz not null default now(),
      constraint grant_tenants_grant_id_length check (char_length(grant_id) between 1 and 255)
    );
    comment on table grant_tenants is 'Tenant selected at sign-in for a grant of a platform client (tid of its tokens). Immutable; removed with the Grant row of oidc_models (trigger).';
    create index if not exists grant_tenants_tenant_idx on grant_tenants (tenant_id);
    create index if not exists grant_tenants_session_idx on grant_tenants (session_uid, client_id, tenant_id) where session_uid is not null;

    create or replace function iam_grant_tenants_forget() returns trigger
    language plpgsql as $fn$
    begin
      delete from grant_tenants where grant_id = old.id;
      return null;
    end
    $fn$;
    create or replace trigger oidc_models_grant_tenants_forget after delete on oidc_models
      for each row when (old.model = 'Grant') execute function iam_grant_tenants_forget();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger if exists oidc_models_grant_tenants_forget on oidc_models;
    drop function if exists iam_grant_tenants_forget();
    drop table if exists grant_tenants;
  `);
}
