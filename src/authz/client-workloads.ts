import type { Knex } from 'knex';

/**
 * The workload identity behind an OAuth client in a tenant: client_credentials tokens name the
 * client (RFC 9068 §2.2), while bindings and overrides name the workload identity linked to it.
 * Used by the check API (who is asking) and by token issuance (`roles`, src/oidc/role-claims.ts).
 *
 * Cached per (tenant, client_id): the link changes rarely, and a disabled or deleted workload is
 * already inactive in its grant snapshot, so a stale id grants nothing. A missing link is
 * remembered only briefly, so a freshly linked workload is found within seconds.
 */
export interface ClientWorkloads {
  /** The workload identity id, or null when the client has none in the tenant. */
  workloadOf(tenantId: string, clientId: string): Promise<string | null>;
}

const MAX_ENTRIES = 10_000;
const MISSING_TTL_MS = 5_000;

export function createClientWorkloads(opts: { db: Knex; ttlMs?: number }): ClientWorkloads {
  const ttlMs = opts.ttlMs ?? 60_000;
  const entries = new Map<string, { id: string | null; expiresAt: number }>();
  return {
    async workloadOf(tenantId, clientId) {
      const key = `${tenantId}|${clientId}`;
      const hit = entries.get(key);
      if (hit && hit.expiresAt > Date.now()) return hit.id;
      const row = (await opts
        .db('workload_identities as w')
        .join('oauth_clients as c', 'c.id', 'w.oauth_client_id')
        .where({ 'w.tenant_id': tenantId, 'c.client_id': clientId })
        .first('w.id')) as { id: string } | undefined;
      const id = row?.id ?? null;
      if (entries.size >= MAX_ENTRIES) entries.clear();
      entries.set(key, { id, expiresAt: Date.now() + (id ? ttlMs : MISSING_TTL_MS) });
      return id;
    },
  };
}
