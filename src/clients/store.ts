import type { Knex } from 'knex';
import type {
  AccessTokenFormat,
  ApplicationType,
  ClientJwks,
  ClientSpec,
  ClientStatus,
  GrantType,
  TokenEndpointAuthMethod,
} from './schema.ts';

/** PostgreSQL channel announcing a changed client (payload: its client_id; empty = every client). */
export const CLIENTS_CHANGED_CHANNEL = 'iam_clients_changed';

/** A client as the domain shows it. Secrets never appear; `version` is the optimistic concurrency token. */
export interface ClientRecord {
  client_id: string;
  tenant_id: string | null;
  name: string;
  description: string | null;
  status: ClientStatus;
  first_party: boolean;
  application_type: ApplicationType;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  grant_types: GrantType[];
  response_types: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  backchannel_logout_uri: string | null;
  allowed_resources: string[];
  allowed_scopes: string[];
  access_token_format: AccessTokenFormat;
  require_dpop: boolean;
  jwks_uri: string | null;
  jwks: ClientJwks | null;
  created_at: string;
  updated_at: string;
  disabled_at: string | null;
  version: string;
}

export type SecretState = 'active' | 'expiring' | 'expired' | 'revoked';

export interface ClientSecretSummary {
  id: string;
  hint: string | null;
  state: SecretState;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** A client with the (non-secret) summary of its secrets. */
export interface ClientDetails extends ClientRecord {
  secrets: ClientSecretSummary[];
}

export interface ClientRow {
  id: string;
  client_id: string;
  tenant_id: string | null;
  name: string;
  description: string | null;
  status: string;
  first_party: boolean;
  application_type: string;
  token_endpoint_auth_method: string;
  grant_types: string[];
  response_types: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  allowed_resources: string[];
  allowed_scopes: string[];
  access_token_format: string;
  require_dpop: boolean;
  jwks: ClientJwks | null;
  jwks_uri: string | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  disabled_at: Date | null;
  version: string;
}

/** updated_at to the microsecond: two changes in one millisecond still get different versions. */
export const VERSION_SQL = '(extract(epoch from c.updated_at) * 1000000)::bigint::text';

export const selectClientRows = (db: Knex | Knex.Transaction) =>
  db('oauth_clients as c').select('c.*', db.raw(`${VERSION_SQL} as version`));

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toRecord(row: ClientRow): ClientRecord {
  const backchannel = row.metadata?.backchannel_logout_uri;
  return {
    client_id: row.client_id,
    tenant_id: row.tenant_id,
    name: row.name,
    description: row.description,
    status: row.status as ClientStatus,
    first_party: row.first_party,
    application_type: row.application_type as ApplicationType,
    token_endpoint_auth_method: row.token_endpoint_auth_method as TokenEndpointAuthMethod,
    grant_types: row.grant_types as GrantType[],
    response_types: row.response_types,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    backchannel_logout_uri: typeof backchannel === 'string' ? backchannel : null,
    allowed_resources: row.allowed_resources,
    allowed_scopes: row.allowed_scopes,
    access_token_format: row.access_token_format as AccessTokenFormat,
    require_dpop: row.require_dpop,
    jwks_uri: row.jwks_uri,
    jwks: row.jwks,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    disabled_at: iso(row.disabled_at),
    version: row.version,
  };
}

export function toSpec(r: ClientRecord): ClientSpec {
  return {
    name: r.name,
    description: r.description,
    first_party: r.first_party,
    status: r.status,
    application_type: r.application_type,
    token_endpoint_auth_method: r.token_endpoint_auth_method,
    grant_types: r.grant_types,
    redirect_uris: r.redirect_uris,
    post_logout_redirect_uris: r.post_logout_redirect_uris,
    backchannel_logout_uri: r.backchannel_logout_uri,
    allowed_resources: r.allowed_resources,
    allowed_scopes: r.allowed_scopes,
    access_token_format: r.access_token_format,
    require_dpop: r.require_dpop,
    jwks_uri: r.jwks_uri,
    jwks: r.jwks,
  };
}

/** Columns of oauth_clients for a spec (jsonb members serialised: pg would turn arrays into PG arrays). */
export function specColumns(spec: ClientSpec, metadata: Record<string, unknown>) {
  const meta = { ...metadata };
  if (spec.backchannel_logout_uri) meta.backchannel_logout_uri = spec.backchannel_logout_uri;
  else delete meta.backchannel_logout_uri;
  return {
    name: spec.name,
    description: spec.description,
    first_party: spec.first_party,
    status: spec.status,
    application_type: spec.application_type,
    token_endpoint_auth_method: spec.token_endpoint_auth_method,
    grant_types: spec.grant_types,
    response_types: spec.grant_types.includes('authorization_code') ? ['code'] : [],
    redirect_uris: spec.redirect_uris,
    post_logout_redirect_uris: spec.post_logout_redirect_uris,
    allowed_resources: spec.allowed_resources,
    allowed_scopes: spec.allowed_scopes,
    access_token_format: spec.access_token_format,
    require_dpop: spec.require_dpop,
    jwks_uri: spec.jwks_uri,
    jwks: spec.jwks ? JSON.stringify(spec.jwks) : null,
    metadata: JSON.stringify(meta),
  };
}

export async function secretSummaries(db: Knex | Knex.Transaction, internalId: string): Promise<ClientSecretSummary[]> {
  const rows = (await db('client_secrets')
    .where({ client_id: internalId })
    .select(
      'id',
      'hint',
      'created_at',
      'expires_at',
      'revoked_at',
      'last_used_at',
      db.raw(`case when revoked_at is not null then 'revoked'
                   when expires_at is null then 'active'
                   when expires_at > now() then 'expiring'
                   else 'expired' end as state`),
    )
    .orderBy('created_at', 'desc')) as {
    id: string;
    hint: string | null;
    state: SecretState;
    created_at: Date;
    expires_at: Date | null;
    revoked_at: Date | null;
    last_used_at: Date | null;
  }[];
  return rows.map((r) => ({
    id: r.id,
    hint: r.hint,
    state: r.state,
    created_at: r.created_at.toISOString(),
    expires_at: iso(r.expires_at),
    revoked_at: iso(r.revoked_at),
    last_used_at: iso(r.last_used_at),
  }));
}

/** What the lookup cache holds per client: the record, whether it may be used, its valid secret hashes. */
export interface ClientLookup {
  client: ClientRecord;
  /** Active client of a platform or active tenant. */
  usable: boolean;
  /** Secrets valid when loaded; `expiresAt` (epoch ms) is re-checked at every use. */
  secrets: { hash: Buffer; expiresAt: number | null }[];
}

/** One round trip: the client, its tenant's status and its unrevoked, unexpired secret hashes. */
export async function loadLookup(db: Knex, clientId: string): Promise<ClientLookup | undefined> {
  const { rows } = (await db.raw(
    `select c.*, ${VERSION_SQL} as version, t.status as tenant_status,
            coalesce((select json_agg(json_build_object(
                        'hash', encode(s.secret_hash, 'base64'),
                        'expires_at', (extract(epoch from s.expires_at) * 1000)::float8)
                      order by s.created_at desc)
                      from client_secrets s
                     where s.client_id = c.id and s.revoked_at is null
                       and (s.expires_at is null or s.expires_at > now())), '[]'::json) as secrets
       from oauth_clients c
       left join tenants t on t.id = c.tenant_id
      where c.client_id = ?`,
    [clientId],
  )) as { rows: (ClientRow & { tenant_status: string | null; secrets: { hash: string; expires_at: number | null }[] })[] };
  const row = rows[0];
  if (!row) return undefined;
  const client = toRecord(row);
  return {
    client,
    usable: client.status === 'active' && (row.tenant_id === null || row.tenant_status === 'active'),
    secrets: row.secrets.map((s) => ({ hash: Buffer.from(s.hash, 'base64'), expiresAt: s.expires_at })),
  };
}
