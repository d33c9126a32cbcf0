import type { Knex } from 'knex';

/**
 * Workload (service) identities and their credentials: hashed client secrets or mTLS
 * certificates bound by their SHA-256 thumbprint (x5t#S256, RFC 8705).
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists workload_identities (
      id              uuid primary key default uuidv7(),
      tenant_id       uuid not null references tenants (id) on delete cascade,
      name            text not null,
      description     text,
      status          text not null default 'active',
      sub             text not null,
      oauth_client_id uuid references oauth_clients (id) on delete set null,
      created_at      timestamptz not null default now(),
      updated_at      timestamptz not null default now(),
      created_by      uuid,
      disabled_at     timestamptz,
      constraint workload_identities_tenant_id_id_key unique (tenant_id, id),
      constraint workload_identities_tenant_name_key unique (tenant_id, name),
      constraint workload_identities_sub_key unique (sub),
      constraint workload_identities_oauth_client_key unique (oauth_client_id),
      constraint workload_identities_status_check check (status in ('active', 'disabled')),
      constraint workload_identities_name_format check (name ~ '^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9]){0,1}$')
    );
    comment on table workload_identities is 'Non-human principals of a tenant. sub is the token subject (sub_type=workload); oauth_client_id is the client it authenticates as for client_credentials.';
    create index if not exists workload_identities_tenant_status_idx on workload_identities (tenant_id, status);
    create or replace trigger workload_identities_touch before update on workload_identities
      for each row execute function iam_touch_updated_at();

    create table if not exists workload_credentials (
      id                 uuid primary key default uuidv7(),
      tenant_id          uuid not null references tenants (id) on delete cascade,
      workload_id        uuid not null,
      type               text not null,
      name               text,
      secret_hash        bytea,
      cert_thumbprint_s256 text,
      cert_subject_dn    text,
      cert_issuer_dn     text,
      cert_serial        text,
      not_before         timestamptz,
      not_after          timestamptz,
      created_at         timestamptz not null default now(),
      created_by         uuid,
      expires_at         timestamptz,
      revoked_at         timestamptz,
      last_used_at       timestamptz,
      constraint workload_credentials_workload_fk foreign key (tenant_id, workload_id)
        references workload_identities (tenant_id, id) on delete cascade,
      constraint workload_credentials_type_check check (type in ('client_secret', 'mtls_certificate')),
      constraint workload_credentials_secret_shape check (type <> 'client_secret' or (
        secret_hash is not null and octet_length(secret_hash) = 32 and cert_thumbprint_s256 is null)),
      constraint workload_credentials_cert_shape check (type <> 'mtls_certificate' or (
        secret_hash is null and cert_thumbprint_s256 ~ '^[A-Za-z0-9_-]{43}$' and cert_subject_dn is not null
        and not_before is not null and not_after is not null and not_before < not_after))
    );
    comment on table workload_credentials is 'client_secret: sha256 of a generated 256-bit secret. mtls_certificate: x5t#S256 thumbprint (base64url, 43 chars) with subject DN and validity; the certificate itself is not needed to authenticate.';
    comment on column workload_credentials.cert_thumbprint_s256 is 'x5t#S256: base64url(sha256(DER certificate)), RFC 8705 section 3.1.';
    create index if not exists workload_credentials_tenant_workload_idx on workload_credentials (tenant_id, workload_id);
    create unique index if not exists workload_credentials_thumbprint_key on workload_credentials (cert_thumbprint_s256)
      where cert_thumbprint_s256 is not null and revoked_at is null;
    create unique index if not exists workload_credentials_secret_hash_key on workload_credentials (secret_hash) where secret_hash is not null;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists workload_credentials;
    drop table if exists workload_identities;
  `);
}
