import type { Knex } from 'knex';

/**
 * Authorization model (ADR-0006): a permission registry, system role templates, tenant
 * roles, scope bindings (role x principal x tenant|team|project), per-principal overrides
 * (deny wins), delegated role administration — and a per-tenant authorization revision that
 * every write to these tables bumps (by trigger, so no writer can forget), for cache
 * invalidation and "at least revision N" checks.
 *
 * Child rows carry tenant_id and reference their parent by (tenant_id, id): the database
 * itself refuses a binding in tenant A to a role of tenant B.
 */
export const config = { transaction: true };

const PERMISSION_KEY = String.raw`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*){2,}$`;
const ROLE_KEY = '^[a-z][a-z0-9_.-]{0,63}$';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists permissions (
      key           text primary key,
      service       text not null,
      description   text not null,
      platform_only boolean not null default false,
      registered_by text not null,
      created_at    timestamptz not null default now(),
      updated_at    timestamptz not null default now(),
      deprecated_at timestamptz,
      constraint permissions_key_format check (key ~ '${PERMISSION_KEY}'),
      constraint permissions_key_service_prefix check (starts_with(key, service || '.'))
    );
    comment on table permissions is 'Permission registry: namespaced keys <service>.<resource>.<action>, registered by the owning service (iam.permissions.register). platform_only permissions cannot be put in tenant roles. Retire with deprecated_at; a key in use cannot be deleted (FK restrict).';
    create index if not exists permissions_service_idx on permissions (service);
    create or replace trigger permissions_touch before update on permissions
      for each row execute function iam_touch_updated_at();

    create table if not exists role_templates (
      id          uuid primary key default uuidv7(),
      key         text not null,
      name        text not null,
      description text not null default '',
      is_system   boolean not null default false,
      created_at  timestamptz not null default now(),
      updated_at  timestamptz not null default now(),
      constraint role_templates_key_key unique (key),
      constraint role_templates_key_format check (key ~ '${ROLE_KEY}')
    );
    comment on table role_templates is 'Role templates a tenant role is instantiated from (system ones: owner, admin, member, viewer, auditor).';
    create or replace trigger role_templates_touch before update on role_templates
      for each row execute function iam_touch_updated_at();

    create table if not exists role_template_permissions (
      template_id    uuid not null references role_templates (id) on delete cascade,
      permission_key text not null references permissions (key) on delete restrict,
      primary key (template_id, permission_key)
    );
    create index if not exists role_template_permissions_permission_idx on role_template_permissions (permission_key);

    create table if not exists roles (
      id          uuid primary key default uuidv7(),
      tenant_id   uuid not null references tenants (id) on delete cascade,
      key         text not null,
      name        text not null,
      description text not null default '',
      template_id uuid references role_templates (id) on delete set null,
      is_system   boolean not null default false,
      created_at  timestamptz not null default now(),
      updated_at  timestamptz not null default now(),
      created_by  uuid,
      constraint roles_tenant_id_id_key unique (tenant_id, id),
      constraint roles_tenant_key_key unique (tenant_id, key),
      constraint roles_key_format check (key ~ '${ROLE_KEY}')
    );
    comment on table roles is 'Tenant roles, from a template or custom. is_system roles (instantiated from system templates at tenant creation) cannot be deleted by tenant admins.';
    create index if not exists roles_template_idx on roles (template_id) where template_id is not null;
    create or replace trigger roles_touch before update on roles
      for each row execute function iam_touch_updated_at();

    create table if not exists role_permissions (
      tenant_id      uuid not null references tenants (id) on delete cascade,
      role_id        uuid not null,
      permission_key text not null references permissions (key) on delete restrict,
      primary key (role_id, permission_key),
      constraint role_permissions_role_fk foreign key (tenant_id, role_id) references roles (tenant_id, id) on delete cascade
    );
    create index if not exists role_permissions_tenant_permission_idx on role_permissions (tenant_id, permission_key);
    create index if not exists role_permissions_permission_idx on role_permissions (permission_key);

    create table if not exists scope_bindings (
      id             uuid primary key default uuidv7(),
      tenant_id      uuid not null references tenants (id) on delete cascade,
      role_id        uuid not null,
      principal_type text not null,
      principal_id   uuid not null,
      scope_type     text not null,
      scope_id       text not null,
      expires_at     timestamptz,
      created_at     timestamptz not null default now(),
      created_by     uuid,
      constraint scope_bindings_role_fk foreign key (tenant_id, role_id) references roles (tenant_id, id) on delete cascade,
      constraint scope_bindings_principal_type_check check (principal_type in ('user', 'workload')),
      constraint scope_bindings_scope_type_check check (scope_type in ('tenant', 'team', 'project')),
      constraint scope_bindings_tenant_scope_id check (scope_type <> 'tenant' or scope_id = tenant_id::text),
      constraint scope_bindings_scope_id_length check (char_length(scope_id) between 1 and 256),
      constraint scope_bindings_unique_key unique (tenant_id, principal_type, principal_id, scope_type, scope_id, role_id)
    );
    comment on table scope_bindings is 'Role bound to a principal at a scope. scope_id is opaque (team/project ids belong to domain services); for scope_type=tenant it is the tenant id. A check applies bindings anywhere on the resource''s scope chain.';
    create index if not exists scope_bindings_tenant_scope_idx on scope_bindings (tenant_id, scope_type, scope_id);
    create index if not exists scope_bindings_tenant_role_idx on scope_bindings (tenant_id, role_id);
    create index if not exists scope_bindings_expires_idx on scope_bindings (expires_at) where expires_at is not null;

    create table if not exists permission_overrides (
      id             uuid primary key default uuidv7(),
      tenant_id      uuid not null references tenants (id) on delete cascade,
      principal_type text not null,
      principal_id   uuid not null,
      permission_key text not null references permissions (key) on delete restrict,
      effect         text not null,
      scope_type     text not null,
      scope_id       text not null,
      reason         text not null,
      expires_at     timestamptz,
      created_at     timestamptz not null default now(),
      created_by     uuid,
      constraint permission_overrides_principal_type_check check (principal_type in ('user', 'workload')),
      constraint permission_overrides_effect_check check (effect in ('allow', 'deny')),
      constraint permission_overrides_scope_type_check check (scope_type in ('tenant', 'team', 'project')),
      constraint permission_overrides_tenant_scope_id check (scope_type <> 'tenant' or scope_id = tenant_id::text),
      constraint permission_overrides_reason_present check (char_length(btrim(reason)) > 0),
      constraint permission_overrides_unique_key unique (tenant_id, principal_type, principal_id, permission_key, scope_type, scope_id)
    );
    comment on table permission_overrides is 'Per-principal allow/deny of one permission at a scope, with a mandatory reason. A deny anywhere on the scope chain wins over any allow.';
    create index if not exists permission_overrides_tenant_scope_idx on permission_overrides (tenant_id, scope_type, scope_id);
    create index if not exists permission_overrides_expires_idx on permission_overrides (expires_at) where expires_at is not null;

    create table if not exists delegations (
      id             uuid primary key default uuidv7(),
      tenant_id      uuid not null references tenants (id) on delete cascade,
      delegator_type text not null,
      delegator_id   uuid not null,
      delegate_type  text not null,
      delegate_id    uuid not null,
      scope_type     text not null,
      scope_id       text not null,
      reason         text,
      expires_at     timestamptz,
      created_at     timestamptz not null default now(),
      revoked_at     timestamptz,
      constraint delegations_tenant_id_id_key unique (tenant_id, id),
      constraint delegations_delegator_type_check check (delegator_type in ('user', 'workload')),
      constraint delegations_delegate_type_check check (delegate_type in ('user', 'workload')),
      constraint delegations_scope_type_check check (scope_type in ('tenant', 'team', 'project')),
      constraint delegations_tenant_scope_id check (scope_type <> 'tenant' or scope_id = tenant_id::text),
      constraint delegations_not_self check (delegator_type <> delegate_type or delegator_id <> delegate_id)
    );
    comment on table delegations is 'Delegated authority: the delegate may bind/unbind the listed roles (delegation_roles) at the scope (and below), never more than the delegator holds.';
    create index if not exists delegations_tenant_delegate_idx on delegations (tenant_id, delegate_type, delegate_id) where revoked_at is null;
    create index if not exists delegations_tenant_delegator_idx on delegations (tenant_id, delegator_type, delegator_id);

    create table if not exists delegation_roles (
      tenant_id     uuid not null references tenants (id) on delete cascade,
      delegation_id uuid not null,
      role_id       uuid not null,
      primary key (delegation_id, role_id),
      constraint delegation_roles_delegation_fk foreign key (tenant_id, delegation_id) references delegations (tenant_id, id) on delete cascade,
      constraint delegation_roles_role_fk foreign key (tenant_id, role_id) references roles (tenant_id, id) on delete cascade
    );
    create index if not exists delegation_roles_tenant_role_idx on delegation_roles (tenant_id, role_id);

    create table if not exists authz_revisions (
      tenant_id  uuid primary key references tenants (id) on delete cascade,
      revision   bigint not null default 0,
      updated_at timestamptz not null default now(),
      constraint authz_revisions_revision_check check (revision >= 0)
    );
    comment on table authz_revisions is 'Monotonic authorization revision per tenant, bumped by trigger on every write to roles, role_permissions, scope_bindings, permission_overrides, delegations, delegation_roles, memberships and tenant status. Concurrent authz writes of one tenant serialize on this row.';

    create or replace function iam_bump_authz_revision() returns trigger
    language plpgsql as $fn$
    declare
      t uuid;
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
        on conflict (tenant_id) do update set revision = r.revision + 1, updated_at = now();
      -- A row moved between tenants (not expected, but never silently) versions both.
      if tg_op = 'UPDATE' and tg_table_name <> 'tenants' then
        if old.tenant_id is distinct from new.tenant_id then
          insert into authz_revisions as r (tenant_id, revision, updated_at) values (old.tenant_id, 1, now())
            on conflict (tenant_id) do update set revision = r.revision + 1, updated_at = now();
        end if;
      end if;
      return null;
    end
    $fn$;

    create or replace trigger roles_authz_revision after insert or update or delete on roles
      for each row execute function iam_bump_authz_revision();
    create or replace trigger role_permissions_authz_revision after insert or update or delete on role_permissions
      for each row execute function iam_bump_authz_revision();
    create or replace trigger scope_bindings_authz_revision after insert or update or delete on scope_bindings
      for each row execute function iam_bump_authz_revision();
    create or replace trigger permission_overrides_authz_revision after insert or update or delete on permission_overrides
      for each row execute function iam_bump_authz_revision();
    create or replace trigger delegations_authz_revision after insert or update or delete on delegations
      for each row execute function iam_bump_authz_revision();
    create or replace trigger delegation_roles_authz_revision after insert or update or delete on delegation_roles
      for each row execute function iam_bump_authz_revision();
    create or replace trigger tenants_authz_revision after update of status on tenants
      for each row when (old.status is distinct from new.status) execute function iam_bump_authz_revision();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger if exists tenants_authz_revision on tenants;
    drop table if exists authz_revisions;
    drop table if exists delegation_roles;
    drop table if exists delegations;
    drop table if exists permission_overrides;
    drop table if exists scope_bindings;
    drop table if exists role_permissions;
    drop table if exists roles;
    drop table if exists role_template_permissions;
    drop table if exists role_templates;
    drop table if exists permissions;
    drop function if exists iam_bump_authz_revision();
  `);
}
