import type { Knex } from 'knex';

/**
 * Tenants and their verified email domains, plus the shared `iam_touch_updated_at()` trigger
 * function later migrations attach to every table with an `updated_at` column.
 *
 * Schema conventions (see the schema ADR in docs/adr): uuidv7 primary keys, timestamptz defaults, enums as
 * text + CHECK (a new value is one constraint swap, no `ALTER TYPE` lock dance), tenant-owned
 * tables lead their indexes with tenant_id, secrets only as `*_hash` / `*_envelope`.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function iam_touch_updated_at() returns trigger
    language plpgsql as $fn$
    begin
      new.updated_at := now();
      return new;
    end
    $fn$;

    create table if not exists tenants (
      id          uuid primary key default uuidv7(),
      slug        text not null,
      name        text not null,
      status      text not null default 'active',
      settings    jsonb not null default '{}',
      created_at  timestamptz not null default now(),
      updated_at  timestamptz not null default now(),
      suspended_at timestamptz,
      deleted_at  timestamptz,
      purge_after timestamptz,
      constraint tenants_slug_key unique (slug),
      constraint tenants_slug_format check (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9]){0,1}$'),
      constraint tenants_name_length check (char_length(btrim(name)) between 1 and 200),
      constraint tenants_status_check check (status in ('active', 'suspended', 'deleted')),
      constraint tenants_settings_object check (jsonb_typeof(settings) = 'object'),
      constraint tenants_deleted_consistent check ((status = 'deleted') = (deleted_at is not null)),
      constraint tenants_purge_after_deleted check (purge_after is null or deleted_at is not null)
    );
    comment on table tenants is 'B2B tenants (organisations). Soft-deleted first (status=deleted, deleted_at), hard-deleted by the purge job after purge_after.';
    comment on column tenants.settings is 'Tenant policy: {"signInMethods":["password","magic_link","passkey","social","federation"],"mfa":{"policy":"off|optional|required"},"selfSignUp":bool,"session":{"idleSeconds":n,"absoluteSeconds":n}}; validated by the application (zod).';
    create index if not exists tenants_purge_idx on tenants (purge_after) where status = 'deleted';
    create or replace trigger tenants_touch before update on tenants
      for each row execute function iam_touch_updated_at();

    create table if not exists tenant_domains (
      id          uuid primary key default uuidv7(),
      tenant_id   uuid not null references tenants (id) on delete cascade,
      domain      text not null,
      verification_token_hash bytea,
      created_at  timestamptz not null default now(),
      verified_at timestamptz,
      constraint tenant_domains_tenant_domain_key unique (tenant_id, domain),
      constraint tenant_domains_domain_format check (
        domain = lower(domain) and char_length(domain) <= 253 and domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9]){0,1}(\\.[a-z0-9]([a-z0-9-]*[a-z0-9]){0,1})+$'
      )
    );
    comment on table tenant_domains is 'Email domains a tenant claims (DNS TXT challenge; the challenge value is stored hashed). A domain can be verified by one tenant only.';
    create unique index if not exists tenant_domains_verified_domain_key on tenant_domains (domain) where verified_at is not null;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists tenant_domains;
    drop table if exists tenants;
    drop function if exists iam_touch_updated_at();
  `);
}
