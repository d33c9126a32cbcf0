import type { Knex } from 'knex';

/**
 * OAuth/OIDC clients and their secrets. The CHECKs encode RFC 9700: no implicit or password
 * grant, `code` (or `none`) as the only response types. Secrets live in their own table so a
 * rotation can overlap (old and new valid until the old one's expires_at).
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists oauth_clients (
      id                          uuid primary key default uuidv7(),
      client_id                   text not null,
      tenant_id                   uuid references tenants (id) on delete cascade,
      name                        text not null,
      description                 text,
      first_party                 boolean not null default false,
      status                      text not null default 'active',
      application_type            text not null default 'web',
      token_endpoint_auth_method  text not null default 'client_secret_basic',
      grant_types                 text[] not null default '{authorization_code,refresh_token}',
      response_types              text[] not null default '{code}',
      redirect_uris               text[] not null default '{}',
      post_logout_redirect_uris   text[] not null default '{}',
      allowed_resources           text[] not null default '{}',
      allowed_scopes              text[] not null default '{openid}',
      access_token_format         text not null default 'jwt',
      require_dpop                boolean not null default false,
      jwks                        jsonb,
      jwks_uri                    text,
      metadata                    jsonb not null default '{}',
      created_at                  timestamptz not null default now(),
      updated_at                  timestamptz not null default now(),
      created_by                  uuid,
      disabled_at                 timestamptz,
      constraint oauth_clients_client_id_key unique (client_id),
      constraint oauth_clients_client_id_format check (client_id ~ '^[A-Za-z0-9._~-]{3,128}$'),
      constraint oauth_clients_name_length check (char_length(btrim(name)) between 1 and 200),
      constraint oauth_clients_status_check check (status in ('active', 'disabled')),
      constraint oauth_clients_application_type_check check (application_type in ('web', 'native')),
      constraint oauth_clients_auth_method_check check (token_endpoint_auth_method in (
        'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt',
        'tls_client_auth', 'self_signed_tls_client_auth', 'none')),
      constraint oauth_clients_grant_types_check check (cardinality(grant_types) > 0 and grant_types <@ array[
        'authorization_code', 'refresh_token', 'client_credentials',
        'urn:ietf:params:oauth:grant-type:device_code',
        'urn:ietf:params:oauth:grant-type:token-exchange',
        'urn:openid:params:grant-type:ciba']::text[]),
      constraint oauth_clients_response_types_check check (response_types <@ array['code', 'none']::text[]),
      constraint oauth_clients_token_format_check check (access_token_format in ('jwt', 'opaque')),
      constraint oauth_clients_jwks_object check (jwks is null or jsonb_typeof(jwks) = 'object'),
      constraint oauth_clients_metadata_object check (jsonb_typeof(metadata) = 'object')
    );
    comment on table oauth_clients is 'OAuth 2.0 / OIDC clients. tenant_id null = platform client. metadata holds the remaining oidc-provider client metadata. Redirect URIs are matched exactly (RFC 9700).';
    create index if not exists oauth_clients_tenant_idx on oauth_clients (tenant_id, created_at) where tenant_id is not null;
    create or replace trigger oauth_clients_touch before update on oauth_clients
      for each row execute function iam_touch_updated_at();

    create table if not exists client_secrets (
      id           uuid primary key default uuidv7(),
      client_id    uuid not null references oauth_clients (id) on delete cascade,
      secret_hash  bytea not null,
      hint         text,
      created_at   timestamptz not null default now(),
      created_by   uuid,
      expires_at   timestamptz,
      revoked_at   timestamptz,
      last_used_at timestamptz,
      constraint client_secrets_secret_hash_key unique (secret_hash),
      constraint client_secrets_secret_hash_length check (octet_length(secret_hash) = 32),
      constraint client_secrets_hint_length check (hint is null or char_length(hint) <= 8),
      constraint client_secrets_expiry_check check (expires_at is null or expires_at > created_at)
    );
    comment on table client_secrets is 'Client secrets as sha256 of a 256-bit random value (a slow KDF adds nothing for generated high-entropy secrets and would cap client_credentials throughput). Several may be valid at once during a rotation overlap; hint = last characters for display.';
    create index if not exists client_secrets_client_active_idx on client_secrets (client_id) where revoked_at is null;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists client_secrets;
    drop table if exists oauth_clients;
  `);
}
