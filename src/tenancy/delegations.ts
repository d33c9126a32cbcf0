import type { Knex } from 'knex';
import { z } from 'zod';
import type { PrincipalRef, ScopeRef } from '../authz/model.ts';
import { AppError } from '../errors/index.ts';
import type { Caller } from './actor.ts';
import { enterTenant, requireHolding, requirePermission, type TenantAccess } from './authority.ts';
import { decodeCursor, type Page, pageQuery, toPage } from './pagination.ts';
import { recordChange } from './record.ts';
import { assertPrincipalInTenant, assertScopeInTenant, futureInstant, principalRef, scopeRef } from './refs.ts';
import { loadRole } from './roles.ts';

/**
 * Delegated role administration: "the delegate may bind and unbind roles R at scope S". The
 * delegator needs `iam.delegations.manage` at S and every permission of every role in R there
 * (no escalation); the delegate's authority is re-checked at each use against what the
 * delegator still holds (`authorizeBindingChange`), so it shrinks when the delegator's does.
 * A tenant-wide delegation covers every team and project; a team or project delegation covers
 * exactly that scope (IAM does not know which projects sit under a team, ADR-0006).
 */

export const createDelegationInput = z
  .object({
    delegate: principalRef,
    roles: z
      .array(z.uuid())
      .min(1)
      .max(50)
      .refine((r) => new Set(r).size === r.length, 'roles must not repeat'),
    scope: scopeRef,
    reason: z.string().trim().min(1).max(500).optional(),
    expires_at: futureInstant.optional(),
  })
  .strict();
export type CreateDelegationInput = z.infer<typeof createDelegationInput>;

export const listDelegationsQuery = z
  .object({ ...pageQuery, delegate_id: z.uuid().optional(), include_revoked: z.enum(['true', 'false']).optional() })
  .strict();

export interface DelegationView {
  id: string;
  delegator: PrincipalRef;
  delegate: PrincipalRef;
  roles: { id: string; key: string }[];
  scope: ScopeRef;
  reason: string | null;
  expires_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
}

const DELEGATION_SQL = `
  select d.id, d.delegator_type, d.delegator_id, d.delegate_type, d.delegate_id, d.scope_type, d.scope_id,
         d.reason, d.expires_at, d.created_at, d.revoked_at,
         coalesce((select json_agg(json_build_object('id', r.id, 'key', r.key) order by r.key)
                     from delegation_roles dr join roles r on r.tenant_id = dr.tenant_id and r.id = dr.role_id
                    where dr.tenant_id = d.tenant_id and dr.delegation_id = d.id), '[]'::json) as roles
    from delegations d
   where d.tenant_id = ?`;

interface DelegationRow {
  id: string;
  delegator_type: PrincipalRef['type'];
  delegator_id: string;
  delegate_type: PrincipalRef['type'];
  delegate_id: string;
  scope_type: ScopeRef['type'];
  scope_id: string;
  reason: string | null;
  expires_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
  roles: { id: string; key: string }[];
}

const toView = (r: DelegationRow): DelegationView => ({
  id: r.id,
  delegator: { type: r.delegator_type, id: r.delegator_id },
  delegate: { type: r.delegate_type, id: r.delegate_id },
  roles: r.roles,
  scope: { type: r.scope_type, id: r.scope_id },
  reason: r.reason,
  expires_at: r.expires_at,
  created_at: r.created_at,
  revoked_at: r.revoked_at,
});

async function loadDelegation(trx: Knex.Transaction, tenantId: string, id: string): Promise<DelegationView> {
  const { rows } = (await trx.raw(`${DELEGATION_SQL} and d.id = ?`, [tenantId, id])) as { rows: DelegationRow[] };
  if (!rows[0]) throw new AppError('not_found', { detail: 'no such delegation' });
  return toView(rows[0]);
}

async function rolePermissions(trx: Knex.Transaction, tenantId: string, roleIds: readonly string[]) {
  const roles = [];
  for (const id of roleIds) roles.push(await loadRole(trx, tenantId, id));
  return { roles, permissions: roles.flatMap((r) => r.permissions) };
}

export async function createDelegation(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: CreateDelegationInput,
): Promise<DelegationView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  assertScopeInTenant(tenantId, input.scope);
  requirePermission(access, 'iam.delegations.manage', input.scope);
  const delegator = access.principal;
  if (!delegator) {
    throw new AppError('conflict', {
      detail: 'a delegation hands on the delegator’s own authority: only a principal of the tenant can delegate',
      extensions: { reason: 'no_delegator' },
    });
  }
  const { permissions } = await rolePermissions(trx, tenantId, input.roles);
  await assertPrincipalInTenant(trx, tenantId, input.delegate);
  if (delegator.type === input.delegate.type && delegator.id === input.delegate.id) {
    throw new AppError('validation_failed', {
      detail: 'a principal cannot delegate to itself',
      invalidParams: [{ name: 'body.delegate', reason: 'is the caller' }],
    });
  }
  requireHolding(access, permissions, input.scope, 'delegating these roles');
  const [row] = await trx('delegations')
    .insert({
      tenant_id: tenantId,
      delegator_type: delegator.type,
      delegator_id: delegator.id,
      delegate_type: input.delegate.type,
      delegate_id: input.delegate.id,
      scope_type: input.scope.type,
      scope_id: input.scope.id,
      reason: input.reason ?? null,
      expires_at: input.expires_at ?? null,
    })
    .returning('id');
  const id = (row as { id: string }).id;
  await trx('delegation_roles').insert(input.roles.map((role_id) => ({ tenant_id: tenantId, delegation_id: id, role_id })));
  await recordChange(trx, caller, {
    action: 'authz.delegation.created',
    tenantId,
    target: { type: 'delegation', id },
    details: { delegate: input.delegate, roles: input.roles, scope: input.scope, reason: input.reason ?? null },
    event: {
      data: { delegation_id: id, delegate: input.delegate, roles: input.roles, scope: input.scope, expires_at: input.expires_at ?? null },
    },
  });
  return loadDelegation(trx, tenantId, id);
}

export async function listDelegations(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  query: z.infer<typeof listDelegationsQuery>,
): Promise<Page<DelegationView>> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.bindings.read');
  const after = decodeCursor(query.cursor);
  const params: Knex.RawBinding[] = [tenantId];
  let sql = DELEGATION_SQL;
  if (query.include_revoked !== 'true') sql += ' and d.revoked_at is null';
  if (query.delegate_id) {
    sql += ' and d.delegate_id = ?';
    params.push(query.delegate_id);
  }
  if (after) {
    sql += ' and d.id > ?';
    params.push(after);
  }
  const { rows } = (await trx.raw(`${sql} order by d.id limit ?`, [...params, query.limit + 1] as Knex.RawBinding[])) as {
    rows: DelegationRow[];
  };
  return toPage(rows, query.limit, toView);
}

export async function getDelegation(trx: Knex.Transaction, caller: Caller, tenantId: string, id: string): Promise<DelegationView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.bindings.read');
  return loadDelegation(trx, tenantId, id);
}

function isDelegator(access: TenantAccess, d: DelegationView): boolean {
  return access.principal?.type === d.delegator.type && access.principal.id === d.delegator.id;
}

/** Revocation keeps the row (revoked_at) for the record; the delegator may always revoke its own. */
export async function revokeDelegation(trx: Knex.Transaction, caller: Caller, tenantId: string, id: string): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  const delegation = await loadDelegation(trx, tenantId, id);
  if (delegation.revoked_at) throw new AppError('conflict', { detail: 'the delegation is already revoked' });
  if (!isDelegator(access, delegation)) {
    requirePermission(access, 'iam.delegations.manage', delegation.scope);
    const { permissions } = await rolePermissions(
      trx,
      tenantId,
      delegation.roles.map((r) => r.id),
    );
    requireHolding(access, permissions, delegation.scope, 'revoking this delegation');
  }
  await trx('delegations').where({ tenant_id: tenantId, id }).update({ revoked_at: trx.fn.now() });
  await recordChange(trx, caller, {
    action: 'authz.delegation.revoked',
    tenantId,
    target: { type: 'delegation', id },
    details: { delegate: delegation.delegate, scope: delegation.scope },
    event: { data: { delegation_id: id } },
  });
}
