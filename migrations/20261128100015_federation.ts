import type { Knex } from 'knex';

/**
 * Upstream identity providers per tenant (ADR-0005): enterprise OIDC (discovery based) and
 * social connectors. Home-realm discovery routes an email domain to exactly one connection,
 * and only a domain the tenant has registered (tenant_domains) can be routed — a tenant
 * cannot claim gmail.com and capture other people's logins.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists federation_connections (
      id            uuid primary key default uuidv7(),
      tenant_id     uuid not null references tenants (id) on delete cascade,
      name          text not null,
      kind          text not null,
      provider      text not null,
      status        text not null default 'active',
      issuer        text,
      discovery_url text,
      client_id     text not null,
      client_secret_envelope jsonb,
      scopes        text[] not null default '{openid,email,profile}',
      claim_mapping jsonb not null default '{}',
      metadata      jsonb not null default '{}',
      jit_provisioning boolean not null default false,
      created_at    timestamptz not null default now(),
      updated_at    timestamptz not null default now(),
      created_by    uuid,
      constraint federation_connections_tenant_id_id_key unique (tenant_id, id),
      constraint federation_connections_tenant_name_key unique (tenant_id, name),
      constraint federation_connections_kind_check check (kind in ('oidc', 'social')),
      constraint federation_connections_provider_check check (provider in ('google', 'github', 'microsoft', 'apple', 'custom')),
      constraint federation_connections_status_check check (status in ('active', 'disabled')),
      constraint federation_connections_oidc_issuer check (kind <> 'oidc' or (issuer is not null and discovery_url is not null)),
      constraint federation_connections_custom_is_oidc check (provider <> 'custom' or kind = 'oidc'),
      constraint federation_connections_secret_envelope check (client_secret_envelope is null or jsonb_typeof(client_secret_envelope) = 'object'),
      constraint federation_connections_claim_mapping_object check (jsonb_typeof(claim_mapping) = 'object'),
      constraint federation_connections_metadata_object check (jsonb_typeof(metadata) = 'object')
    );
    comment on table federation_connections is 'Upstream IdPs of a tenant: enterprise OIDC (Entra ID, Okta, Google Workspace...) and social connectors. Accounts link by (provider/issuer, subject), never by email.';
    comment on column federation_connections.client_secret_envelope is 'AES-256-GCM envelope {v,kid,iv,ct,tag} under the key-encryption key; null for public/PKCE-only or private_key_jwt connectors (Apple: key in metadata envelope).';
    comment on column federation_connections.metadata is 'Connector specifics: explicit endpoints for non-OIDC providers (GitHub), Apple team/key ids, allowed upstream tenants...';
    create index if not exists federation_connections_tenant_status_idx on federation_connections (tenant_id, status);
    create index if not exists federation_connections_issuer_idx on federation_connections (issuer) where issuer is not null;
    create or replace trigger federation_connections_touch before update on federation_connections
      for each row execute function iam_touch_updated_at();

    create table if not exists federation_connection_domains (
      id            uuid primary key default uuidv7(),
      tenant_id     uuid not null references tenants (id) on delete cascade,
      connection_id uuid not null,
      domain        text not null,
      created_at    timestamptz not null default now(),
      constraint federation_connection_domains_domain_key unique (domain),
      constraint federation_connection_domains_connection_fk foreign key (tenant_id, connection_id)
        references federation_connections (tenant_id, id) on delete cascade,
      constraint federation_connection_domains_domain_fk foreign key (tenant_id, domain)
        references tenant_domains (tenant_id, domain) on delete cascade
    );
    comment on table federation_connection_domains is 'Home-realm discovery: email domain -> connection. Globally unique per domain; the domain must be registered by the same tenant (verification is checked by the application).';
    create index if not exists federation_connection_domains_tenant_conn_idx on federation_connection_domains (tenant_id, connection_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists federation_connection_domains;
    drop table if exists federation_connections;
  `);
}
