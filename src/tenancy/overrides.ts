import type { Knex } from 'knex';
import { z } from 'zod';
import type { PrincipalRef, ScopeRef } from '../authz/model.ts';
import { permissionKey } from '../authz/permission-registry.ts';
import { AppError } from '../errors/index.ts';
import { actorUserId, type Caller } from './actor.ts';
import { enterTenant, requireHolding, requirePermission } from './authority.ts';
import { isUniqueViolation } from './db-errors.ts';
import { decodeCursor, type Page, pageQuery, toPage } from './pagination.ts';
import { recordChange } from './record.ts';
import { assertAssignablePermission, assertPrincipalInTenant, assertScopeInTenant, futureInstant, principalRef, scopeRef } from './refs.ts';

/**
 * Per-principal permission overrides (ADR-0006): allow or deny one permission at a scope, with a
 * mandatory reason and optional expiry; a deny anywhere on the chain wins. No escalation: the
 * caller needs `iam.overrides.manage` there and must hold the permission itself at that scope —
 * for an allow (it would hand out what it lacks) and for a deny alike (it could otherwise
 * switch off authority it was never given), and the same again to remove one.
 */

export const createOverrideInput = z
  .object({
    principal: principalRef,
    permission: permissionKey,
    effect: z.enum(['allow', 'deny']),
    scope: scopeRef,
    reason: z.string().trim().min(1).max(500),
    expires_at: futureInstant.optional(),
  })
  .strict();
export type CreateOverrideInput = z.infer<typeof createOverrideInput>;

export const listOverridesQuery = z
  .object({ ...pageQuery, principal_type: z.enum(['user', 'workload']).optional(), principal_id: z.uuid().optional() })
  .strict();

export interface OverrideView {
  id: string;
  principal: PrincipalRef;
  permission: string;
  effect: 'allow' | 'deny';
  scope: ScopeRef;
  reason: string;
  expires_at: Date | null;
  created_at: Date;
  created_by: string | null;
}

interface OverrideRow {
  id: string;
  principal_type: PrincipalRef['type'];
  principal_id: string;
  permission_key: string;
  effect: 'allow' | 'deny';
  scope_type: ScopeRef['type'];
  scope_id: string;
  reason: string;
  expires_at: Date | null;
  created_at: Date;
  created_by: string | null;
}

const COLUMNS = [
  'id',
  'principal_type',
  'principal_id',
  'permission_key',
  'effect',
  'scope_type',
  'scope_id',
  'reason',
  'expires_at',
  'created_at',
  'created_by',
];

const toView = (r: OverrideRow): OverrideView => ({
  id: r.id,
  principal: { type: r.principal_type, id: r.principal_id },
  permission: r.permission_key,
  effect: r.effect,
  scope: { type: r.scope_type, id: r.scope_id },
  reason: r.reason,
  expires_at: r.expires_at,
  created_at: r.created_at,
  created_by: r.created_by,
});

async function loadOverride(trx: Knex.Transaction, tenantId: string, id: string): Promise<OverrideView> {
  const row = (await trx('permission_overrides').where({ tenant_id: tenantId, id }).first(COLUMNS)) as OverrideRow | undefined;
  if (!row) throw new AppError('not_found', { detail: 'no such override' });
  return toView(row);
}

export async function createOverride(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: CreateOverrideInput,
): Promise<OverrideView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  assertScopeInTenant(tenantId, input.scope);
  requirePermission(access, 'iam.overrides.manage', input.scope);
  await assertAssignablePermission(trx, input.permission, 'body.permission');
  await assertPrincipalInTenant(trx, tenantId, input.principal);
  requireHolding(access, [input.permission], input.scope, `an ${input.effect} override of ${input.permission}`);
  let id: string;
  try {
    const [row] = await trx('permission_overrides')
      .insert({
        tenant_id: tenantId,
        principal_type: input.principal.type,
        principal_id: input.principal.id,
        permission_key: input.permission,
        effect: input.effect,
        scope_type: input.scope.type,
        scope_id: input.scope.id,
        reason: input.reason,
        expires_at: input.expires_at ?? null,
        created_by: actorUserId(caller.actor),
      })
      .returning('id');
    id = (row as { id: string }).id;
  } catch (err) {
    if (isUniqueViolation(err, 'permission_overrides_unique_key')) {
      throw new AppError('conflict', {
        detail: 'the principal already has an override of this permission at this scope; delete it first',
        extensions: { reason: 'override_exists' },
      });
    }
    throw err;
  }
  await recordChange(trx, caller, {
    action: 'authz.override.created',
    tenantId,
    target: { type: 'override', id },
    details: { principal: input.principal, permission: input.permission, effect: input.effect, scope: input.scope, reason: input.reason },
    event: {
      data: {
        override_id: id,
        principal: input.principal,
        permission: input.permission,
        effect: input.effect,
        scope: input.scope,
        expires_at: input.expires_at ?? null,
      },
    },
  });
  return loadOverride(trx, tenantId, id);
}

export async function listOverrides(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  query: z.infer<typeof listOverridesQuery>,
): Promise<Page<OverrideView>> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.bindings.read');
  const after = decodeCursor(query.cursor);
  const q = trx('permission_overrides').where({ tenant_id: tenantId }).select(COLUMNS);
  if (query.principal_type) q.where('principal_type', query.principal_type);
  if (query.principal_id) q.where('principal_id', query.principal_id);
  if (after) q.where('id', '>', after);
  const rows = (await q.orderBy('id').limit(query.limit + 1)) as OverrideRow[];
  return toPage(rows, query.limit, toView);
}

export async function getOverride(trx: Knex.Transaction, caller: Caller, tenantId: string, id: string): Promise<OverrideView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  const override = await loadOverride(trx, tenantId, id);
  requirePermission(access, 'iam.bindings.read', override.scope);
  return override;
}

export async function deleteOverride(trx: Knex.Transaction, caller: Caller, tenantId: string, id: string): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  const override = await loadOverride(trx, tenantId, id);
  requirePermission(access, 'iam.overrides.manage', override.scope);
  requireHolding(access, [override.permission], override.scope, `removing an override of ${override.permission}`);
  await trx('permission_overrides').where({ tenant_id: tenantId, id }).delete();
  await recordChange(trx, caller, {
    action: 'authz.override.revoked',
    tenantId,
    target: { type: 'override', id },
    details: { principal: override.principal, permission: override.permission, effect: override.effect, scope: override.scope },
    event: { data: { override_id: id } },
  });
}
