import type { CheckService } from '../authz/check-service.ts';
import type { ClientWorkloads } from '../authz/client-workloads.ts';
import type { PrincipalRef } from '../authz/model.ts';

/**
 * The `roles` claim of tenant-scoped access tokens (contracts/jwt-claims.md): the keys of the
 * roles bound to the token's principal at **tenant scope** — small and coarse on purpose; team
 * and project grants, overrides and every fine-grained decision go through the check API.
 *
 * The principal is the user (`accountId`) or, for a token without an end-user, the workload
 * identity linked to the client. Only live bindings count (not expired at issuance), and none
 * while the principal is inactive (tenant suspended, membership not active, workload disabled).
 * Sorted, without duplicates, at most MAX_TOKEN_ROLES keys (the first ones in that order): a
 * missing role only ever withholds access, and the check API always has the whole answer.
 *
 * The data is the check service's grant snapshot, cached per instance and invalidated by tenant
 * revision (ADR-0016), so issuing a token for a warm principal reads nothing from PostgreSQL
 * and a token issued after a revoke the instance has heard of no longer carries the role.
 */

/** Most role keys one token carries (bounded token size). */
export const MAX_TOKEN_ROLES = 20;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TokenSubject {
  /** The end-user (user tokens). */
  accountId?: string;
  /** The client the token is issued to (its workload identity is the principal when there is no end-user). */
  clientId?: string;
}

/** Role keys for a token with `tid` = tenantId. */
export type TokenRoles = (tenantId: string, subject: TokenSubject) => Promise<string[]>;

export function createTokenRoles(deps: { checks: Pick<CheckService, 'grants'>; workloads: ClientWorkloads; now?: () => Date }): TokenRoles {
  const now = deps.now ?? (() => new Date());

  const principalOf = async (tenantId: string, s: TokenSubject): Promise<PrincipalRef | null> => {
    if (s.accountId) return UUID.test(s.accountId) ? { type: 'user', id: s.accountId.toLowerCase() } : null;
    if (!s.clientId) return null;
    const id = await deps.workloads.workloadOf(tenantId, s.clientId);
    return id ? { type: 'workload', id } : null;
  };

  return async (tenant, subject) => {
    const tenantId = tenant.toLowerCase();
    const principal = await principalOf(tenantId, subject);
    if (!principal) return [];
    const grants = await deps.checks.grants(tenantId, principal);
    if (!grants.active) return [];
    const at = now().getTime();
    const keys = new Set<string>();
    for (const b of grants.bindings) {
      if (b.scope.type !== 'tenant' || b.scope.id !== tenantId) continue;
      if (b.expiresAt !== null && b.expiresAt.getTime() <= at) continue;
      keys.add(b.roleKey);
    }
    return [...keys].sort().slice(0, MAX_TOKEN_ROLES);
  };
}
