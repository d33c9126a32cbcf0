import type { Knex } from 'knex';

/**
 * Durable session and token state: the IAM view of user sessions, the single table backing
 * the durable oidc-provider models, and the revocation lists that JWT access tokens need
 * (the engine does not persist them, so it cannot revoke them on its own).
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists user_sessions (
      id                  uuid primary key default uuidv7(),
      user_id             uuid not null references users (id) on delete cascade,
      tenant_id           uuid references tenants (id) on delete cascade,
      oidc_session_uid    text,
      acr                 text,
      amr                 text[] not null default '{}',
      auth_time           timestamptz not null default now(),
      ip                  inet,
      user_agent          text,
      created_at          timestamptz not null default now(),
      last_seen_at        timestamptz not null default now(),
      idle_expires_at     timestamptz not null,
      absolute_expires_at timestamptz not null,
      revoked_at          timestamptz,
      revoked_reason      text,
      constraint user_sessions_oidc_session_uid_key unique (oidc_session_uid),
      constraint user_sessions_expiry_order check (idle_expires_at <= absolute_expires_at and absolute_expires_at > created_at)
    );
    comment on table user_sessions is 'Browser sessions as users and admins see them (list, revoke). Idle expiry slides up to the absolute expiry; acr/amr record how the user authenticated. oidc_session_uid links the engine Session (oidc_models, model=Session).';
    create index if not exists user_sessions_user_active_idx on user_sessions (user_id, absolute_expires_at) where revoked_at is null;
    create index if not exists user_sessions_tenant_idx on user_sessions (tenant_id) where tenant_id is not null;
    create index if not exists user_sessions_expires_idx on user_sessions (absolute_expires_at);

    create table if not exists oidc_models (
      model       text not null,
      id          text not null,
      payload     jsonb not null,
      grant_id    text,
      uid         text,
      user_code   text,
      account_id  text,
      expires_at  timestamptz,
      consumed_at timestamptz,
      created_at  timestamptz not null default now(),
      primary key (model, id),
      constraint oidc_models_model_name check (model ~ '^[A-Z][A-Za-z]+$'),
      constraint oidc_models_payload_object check (jsonb_typeof(payload) = 'object')
    ) with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
    comment on table oidc_models is 'Durable oidc-provider models (Grant, Session, RefreshToken...; short-lived ones live in Redis). id is sha256 of the token value for bearer artefacts, so a database read does not yield usable tokens. consume() is UPDATE ... WHERE consumed_at IS NULL (atomic).';
    create index if not exists oidc_models_grant_idx on oidc_models (grant_id, model) where grant_id is not null;
    create index if not exists oidc_models_uid_idx on oidc_models (uid, model) where uid is not null;
    create index if not exists oidc_models_user_code_idx on oidc_models (user_code, model) where user_code is not null;
    create index if not exists oidc_models_account_idx on oidc_models (account_id, model) where account_id is not null;
    create index if not exists oidc_models_expires_idx on oidc_models (expires_at) where expires_at is not null;

    create table if not exists token_revocations (
      jti        text primary key,
      token_type text not null default 'access_token',
      grant_id   text,
      tenant_id  uuid,
      client_id  text,
      subject    text,
      expires_at timestamptz not null,
      revoked_at timestamptz not null default now(),
      reason     text,
      constraint token_revocations_token_type_check check (token_type in ('access_token', 'refresh_token', 'id_token', 'assertion'))
    );
    comment on table token_revocations is 'jti denylist for self-contained (JWT) tokens; a row lives until the token would have expired anyway. tenant_id is a plain column (no FK): a revocation must outlive the tenant.';
    create index if not exists token_revocations_expires_idx on token_revocations (expires_at);
    create index if not exists token_revocations_tenant_idx on token_revocations (tenant_id, revoked_at) where tenant_id is not null;

    create table if not exists revoked_grants (
      grant_id   text primary key,
      tenant_id  uuid,
      client_id  text,
      account_id text,
      expires_at timestamptz not null,
      revoked_at timestamptz not null default now(),
      reason     text
    );
    comment on table revoked_grants is 'Grants revoked (logout, refresh-token reuse, password change, admin action): every JWT access token carrying this grant id is rejected until expires_at.';
    create index if not exists revoked_grants_expires_idx on revoked_grants (expires_at);
    create index if not exists revoked_grants_tenant_idx on revoked_grants (tenant_id, revoked_at) where tenant_id is not null;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists revoked_grants;
    drop table if exists token_revocations;
    drop table if exists oidc_models;
    drop table if exists user_sessions;
  `);
}
