import type { Knex } from 'knex';

/**
 * Tenant membership and invitations. A membership's status feeds authorization (a suspended
 * member holds no permissions), so writes bump the tenant's authz revision.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists memberships (
      id           uuid primary key default uuidv7(),
      tenant_id    uuid not null references tenants (id) on delete cascade,
      user_id      uuid not null references users (id) on delete cascade,
      status       text not null default 'active',
      created_at   timestamptz not null default now(),
      updated_at   timestamptz not null default now(),
      joined_at    timestamptz,
      suspended_at timestamptz,
      created_by   uuid,
      constraint memberships_tenant_user_key unique (tenant_id, user_id),
      constraint memberships_status_check check (status in ('active', 'suspended', 'invited'))
    );
    comment on table memberships is 'A user''s membership in a tenant. Roles come from scope_bindings (principal_type=user).';
    create index if not exists memberships_tenant_status_idx on memberships (tenant_id, status, created_at);
    create index if not exists memberships_user_idx on memberships (user_id);
    create or replace trigger memberships_touch before update on memberships
      for each row execute function iam_touch_updated_at();
    create or replace trigger memberships_authz_revision after insert or update or delete on memberships
      for each row execute function iam_bump_authz_revision();

    create table if not exists invitations (
      id          uuid primary key default uuidv7(),
      tenant_id   uuid not null references tenants (id) on delete cascade,
      email       text not null,
      token_hash  bytea not null,
      invited_by  uuid,
      created_at  timestamptz not null default now(),
      expires_at  timestamptz not null,
      accepted_at timestamptz,
      accepted_by uuid,
      revoked_at  timestamptz,
      revoked_by  uuid,
      constraint invitations_tenant_id_id_key unique (tenant_id, id),
      constraint invitations_token_hash_key unique (token_hash),
      constraint invitations_token_hash_length check (octet_length(token_hash) = 32),
      constraint invitations_email_format check (char_length(email) <= 320 and email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
      constraint invitations_expiry_check check (expires_at > created_at),
      constraint invitations_single_outcome check (accepted_at is null or revoked_at is null)
    );
    comment on table invitations is 'Invitations to join a tenant; the emailed token is stored as sha256. Accepted atomically (UPDATE ... WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()).';
    create unique index if not exists invitations_pending_email_key on invitations (tenant_id, lower(email))
      where accepted_at is null and revoked_at is null;
    create index if not exists invitations_tenant_created_idx on invitations (tenant_id, created_at);

    create table if not exists invitation_roles (
      tenant_id     uuid not null references tenants (id) on delete cascade,
      invitation_id uuid not null,
      role_id       uuid not null,
      primary key (invitation_id, role_id),
      constraint invitation_roles_invitation_fk foreign key (tenant_id, invitation_id) references invitations (tenant_id, id) on delete cascade,
      constraint invitation_roles_role_fk foreign key (tenant_id, role_id) references roles (tenant_id, id) on delete cascade
    );
    comment on table invitation_roles is 'Roles granted (as tenant-scope bindings) when the invitation is accepted.';
    create index if not exists invitation_roles_tenant_role_idx on invitation_roles (tenant_id, role_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists invitation_roles;
    drop table if exists invitations;
    drop table if exists memberships;
  `);
}
