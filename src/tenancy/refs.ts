import type { Knex } from 'knex';
import { z } from 'zod';
import type { PrincipalRef, ScopeRef } from '../authz/model.ts';
import { AppError } from '../errors/index.ts';

/** Request shapes shared by bindings, overrides and delegations, and their tenant checks. */

export const principalRef = z.object({ type: z.enum(['user', 'workload']), id: z.uuid() }).strict();

/** Team and project ids are opaque strings owned by domain services (ADR-0006). */
export const scopeRef = z
  .object({
    type: z.enum(['tenant', 'team', 'project']),
    id: z.string().min(1).max(256),
  })
  .strict();

export const futureInstant = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => d.getTime() > Date.now(), 'must be in the future');

/** 404 unless the principal belongs to the tenant (a member, or one of its workloads). */
export async function assertPrincipalInTenant(trx: Knex.Transaction, tenantId: string, principal: PrincipalRef): Promise<void> {
  const row =
    principal.type === 'user'
      ? await trx('memberships').where({ tenant_id: tenantId, user_id: principal.id }).first('id')
      : await trx('workload_identities').where({ tenant_id: tenantId, id: principal.id }).first('id');
  if (!row) throw new AppError('not_found', { detail: `no such ${principal.type === 'user' ? 'member' : 'workload'} in this tenant` });
}

/** A tenant scope must name this tenant; naming another one finds nothing (404, never 403). */
export function assertScopeInTenant(tenantId: string, scope: ScopeRef): void {
  if (scope.type === 'tenant' && scope.id !== tenantId) throw new AppError('not_found', { detail: 'no such tenant scope' });
}

/** Registered, tenant-assignable permission, or a validation problem naming `field`. */
export async function assertAssignablePermission(trx: Knex.Transaction, permission: string, field: string): Promise<void> {
  const row = await trx('permissions').where({ key: permission }).first('platform_only', 'deprecated_at');
  const reason = !row
    ? 'not in the permission registry'
    : row.platform_only
      ? 'platform-only permissions cannot be granted in a tenant'
      : row.deprecated_at
        ? 'deprecated'
        : undefined;
  if (reason)
    throw new AppError('validation_failed', { detail: `permission ${permission}: ${reason}`, invalidParams: [{ name: field, reason }] });
}
