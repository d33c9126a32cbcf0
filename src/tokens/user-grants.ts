import type { Knex } from 'knex';
import { type RequestMeta, type RevocationReason, revokeGrant } from './revocations.ts';

/** A grant of the engine (`oidc_models` model `Grant`), with what its revocation record names. */
export interface GrantRef {
  id: string;
  client_id: string | null;
  tenant_id: string | null;
}

/**
 * Revokes grants of a user inside `trx`: a revocation record per grant (so its JWT access tokens are
 * refused until they expire; `token.revoked` event, audit), then its durable tokens and the Grant row.
 * The engine refuses an opaque access token whose Grant row is gone (introspection, userinfo), so
 * those die with it too.
 */
export async function revokeUserGrants(
  trx: Knex.Transaction,
  userId: string,
  grants: readonly GrantRef[],
  how: { reason: RevocationReason; meta: RequestMeta; maxAccessTokenTtlS: number },
): Promise<void> {
  const expiresAt = new Date(Date.now() + (how.maxAccessTokenTtlS + 60) * 1000);
  for (const g of grants) {
    await revokeGrant(trx, {
      ...how.meta,
      grantId: g.id,
      clientId: g.client_id ?? undefined,
      tenantId: g.tenant_id ?? undefined,
      accountId: userId,
      expiresAt,
      reason: how.reason,
      tokenType: 'session',
    });
  }
  const ids = grants.map((g) => g.id);
  if (ids.length) {
    await trx('oidc_models').whereIn('grant_id', ids).del();
    await trx('oidc_models').where({ model: 'Grant' }).whereIn('id', ids).del();
  }
}

/**
 * The user's grants whose tokens carry `tid` = the tenant: grants of the tenant's own clients, and
 * grants of platform clients made for the tenant at sign-in (`grant_tenants`).
 */
export async function tenantGrantsOf(trx: Knex.Transaction, tenantId: string, userId: string): Promise<GrantRef[]> {
  const { rows } = (await trx.raw(
    `select g.id, g.payload->>'clientId' as client_id, ?::uuid as tenant_id
       from oidc_models g
       left join oauth_clients c on c.client_id = g.payload->>'clientId'
       left join grant_tenants gt on gt.grant_id = g.id
      where g.model = 'Grant' and g.account_id = ?
        and (c.tenant_id = ? or gt.tenant_id = ?)
      order by g.id`,
    [tenantId, userId, tenantId, tenantId],
  )) as { rows: GrantRef[] };
  return rows;
}
