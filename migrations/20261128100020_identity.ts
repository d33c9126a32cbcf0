import type { Knex } from 'knex';

/**
 * Canonical user identities and their authenticators. Users are global (one person, one
 * account across tenants; tenants relate through memberships). Nothing secret is stored in
 * clear: passwords are argon2id PHC strings, one-time tokens and recovery codes are hashes,
 * TOTP seeds are AES-256-GCM envelopes.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists users (
      id                uuid primary key default uuidv7(),
      email             text,
      email_verified_at timestamptz,
      display_name      text,
      given_name        text,
      family_name       text,
      locale            text,
      picture_url       text,
      profile           jsonb not null default '{}',
      status            text not null default 'active',
      webauthn_user_handle bytea,
      created_at        timestamptz not null default now(),
      updated_at        timestamptz not null default now(),
      last_login_at     timestamptz,
      disabled_at       timestamptz,
      deleted_at        timestamptz,
      constraint users_status_check check (status in ('active', 'disabled', 'deleted')),
      constraint users_email_format check (email is null or (char_length(email) <= 320 and email ~ '^[^@[:space:]]+@[^@[:space:]]+$')),
      constraint users_email_verified_needs_email check (email_verified_at is null or email is not null),
      constraint users_profile_object check (jsonb_typeof(profile) = 'object'),
      constraint users_deleted_consistent check ((status = 'deleted') = (deleted_at is not null)),
      constraint users_webauthn_user_handle_length check (webauthn_user_handle is null or octet_length(webauthn_user_handle) between 16 and 64)
    );
    comment on table users is 'Canonical human identities (global; tenant relationship through memberships). Email is unique case-insensitively among non-deleted users.';
    comment on column users.webauthn_user_handle is 'Random WebAuthn user.id (not the primary key), resolves discoverable-credential logins.';
    create unique index if not exists users_email_lower_key on users (lower(email)) where email is not null and deleted_at is null;
    create unique index if not exists users_webauthn_user_handle_key on users (webauthn_user_handle) where webauthn_user_handle is not null;
    create or replace trigger users_touch before update on users
      for each row execute function iam_touch_updated_at();

    create table if not exists user_subject_aliases (
      id            uuid primary key default uuidv7(),
      user_id       uuid not null references users (id) on delete cascade,
      provider      text not null,
      subject       text not null,
      connection_id uuid references federation_connections (id) on delete set null,
      email         text,
      email_verified boolean not null default false,
      claims        jsonb not null default '{}',
      created_at    timestamptz not null default now(),
      last_used_at  timestamptz,
      constraint user_subject_aliases_provider_subject_key unique (provider, subject),
      constraint user_subject_aliases_claims_object check (jsonb_typeof(claims) = 'object')
    );
    comment on table user_subject_aliases is 'Upstream identities linked to a user: (provider, subject) where provider is the upstream issuer URL for OIDC or the connector name (github...). Linking never happens by email alone (ADR-0005).';
    create index if not exists user_subject_aliases_user_idx on user_subject_aliases (user_id);
    create index if not exists user_subject_aliases_connection_idx on user_subject_aliases (connection_id) where connection_id is not null;

    create table if not exists password_credentials (
      user_id       uuid primary key references users (id) on delete cascade,
      password_hash text not null,
      algorithm     text not null default 'argon2id',
      params        jsonb not null,
      must_change   boolean not null default false,
      created_at    timestamptz not null default now(),
      changed_at    timestamptz not null default now(),
      constraint password_credentials_algorithm_check check (algorithm in ('argon2id')),
      constraint password_credentials_hash_phc check (password_hash like '$argon2id$%'),
      constraint password_credentials_params_object check (jsonb_typeof(params) = 'object')
    );
    comment on table password_credentials is 'One password per user: argon2id PHC string plus its parameters {m,t,p}, so logins can rehash when the configured parameters change.';

    create table if not exists totp_credentials (
      id              uuid primary key default uuidv7(),
      user_id         uuid not null references users (id) on delete cascade,
      secret_envelope jsonb not null,
      algorithm       text not null default 'SHA1',
      digits          smallint not null default 6,
      period_seconds  smallint not null default 30,
      last_used_step  bigint,
      name            text,
      created_at      timestamptz not null default now(),
      confirmed_at    timestamptz,
      last_used_at    timestamptz,
      constraint totp_credentials_algorithm_check check (algorithm in ('SHA1', 'SHA256', 'SHA512')),
      constraint totp_credentials_digits_check check (digits in (6, 8)),
      constraint totp_credentials_period_check check (period_seconds between 15 and 120),
      constraint totp_credentials_envelope_object check (jsonb_typeof(secret_envelope) = 'object')
    );
    comment on table totp_credentials is 'TOTP authenticators. secret_envelope is an AES-256-GCM envelope; last_used_step blocks replay of a code within its window (UPDATE ... WHERE last_used_step < step).';
    create index if not exists totp_credentials_user_idx on totp_credentials (user_id);
    create unique index if not exists totp_credentials_one_confirmed_key on totp_credentials (user_id) where confirmed_at is not null;

    create table if not exists webauthn_credentials (
      id              uuid primary key default uuidv7(),
      user_id         uuid not null references users (id) on delete cascade,
      credential_id   bytea not null,
      public_key      bytea not null,
      counter         bigint not null default 0,
      transports      text[] not null default '{}',
      aaguid          uuid,
      name            text,
      device_type     text,
      backup_eligible boolean not null default false,
      backed_up       boolean not null default false,
      created_at      timestamptz not null default now(),
      last_used_at    timestamptz,
      constraint webauthn_credentials_credential_id_key unique (credential_id),
      constraint webauthn_credentials_counter_check check (counter >= 0),
      constraint webauthn_credentials_credential_id_length check (octet_length(credential_id) between 16 and 1023),
      constraint webauthn_credentials_device_type_check check (device_type is null or device_type in ('singleDevice', 'multiDevice'))
    );
    comment on table webauthn_credentials is 'Passkeys / security keys. counter regression is a risk signal, not a hard failure (synced passkeys report 0).';
    create index if not exists webauthn_credentials_user_idx on webauthn_credentials (user_id);

    create table if not exists recovery_codes (
      id         uuid primary key default uuidv7(),
      user_id    uuid not null references users (id) on delete cascade,
      batch_id   uuid not null,
      code_hash  text not null,
      created_at timestamptz not null default now(),
      used_at    timestamptz
    );
    comment on table recovery_codes is 'MFA recovery codes, stored hashed (keyed hash or argon2id PHC); a new batch replaces the previous one. Single use: UPDATE ... SET used_at WHERE used_at IS NULL.';
    create index if not exists recovery_codes_user_unused_idx on recovery_codes (user_id) where used_at is null;

    create table if not exists one_time_tokens (
      id            uuid primary key default uuidv7(),
      purpose       text not null,
      token_hash    bytea not null,
      user_id       uuid references users (id) on delete cascade,
      tenant_id     uuid references tenants (id) on delete cascade,
      email         text not null,
      browser_binding_hash bytea,
      context       jsonb not null default '{}',
      created_ip    inet,
      created_at    timestamptz not null default now(),
      expires_at    timestamptz not null,
      consumed_at   timestamptz,
      constraint one_time_tokens_token_hash_key unique (token_hash),
      constraint one_time_tokens_purpose_check check (purpose in ('email_verification', 'magic_link', 'password_reset', 'email_change')),
      constraint one_time_tokens_token_hash_length check (octet_length(token_hash) = 32),
      constraint one_time_tokens_expiry_check check (expires_at > created_at),
      constraint one_time_tokens_context_object check (jsonb_typeof(context) = 'object')
    );
    comment on table one_time_tokens is 'Emailed single-use tokens (verification, magic link, reset, email change). Only sha256(token) is stored; browser_binding_hash ties redemption to the requesting browser. Consumed atomically (UPDATE ... WHERE consumed_at IS NULL AND expires_at > now()).';
    comment on column one_time_tokens.tenant_id is 'Tenant context of the flow, when there is one (users are global).';
    create index if not exists one_time_tokens_user_purpose_idx on one_time_tokens (user_id, purpose) where consumed_at is null;
    create index if not exists one_time_tokens_tenant_idx on one_time_tokens (tenant_id) where tenant_id is not null;
    create index if not exists one_time_tokens_expires_idx on one_time_tokens (expires_at);

    create table if not exists auth_failure_counters (
      user_id         uuid not null references users (id) on delete cascade,
      factor          text not null,
      failed_count    integer not null default 0,
      first_failed_at timestamptz,
      last_failed_at  timestamptz,
      locked_until    timestamptz,
      updated_at      timestamptz not null default now(),
      primary key (user_id, factor),
      constraint auth_failure_counters_factor_check check (factor in ('password', 'totp', 'recovery_code', 'magic_link', 'webauthn', 'email_otp')),
      constraint auth_failure_counters_count_check check (failed_count >= 0)
    );
    comment on table auth_failure_counters is 'Per-account brute-force counters and lockout per factor (per-IP limits live in Redis). Durable so that lockout fails closed when Redis is down.';
    create index if not exists auth_failure_counters_locked_idx on auth_failure_counters (locked_until) where locked_until is not null;
    create or replace trigger auth_failure_counters_touch before update on auth_failure_counters
      for each row execute function iam_touch_updated_at();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists auth_failure_counters;
    drop table if exists one_time_tokens;
    drop table if exists recovery_codes;
    drop table if exists webauthn_credentials;
    drop table if exists totp_credentials;
    drop table if exists password_credentials;
    drop table if exists user_subject_aliases;
    drop table if exists users;
  `);
}
