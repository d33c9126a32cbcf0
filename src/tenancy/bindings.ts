import type { Knex } from 'knex';
import { z } from 'zod';
import type { PrincipalRef, ScopeRef } from '../authz/model.ts';
import { AppError } from '../errors/index.ts';
import { actorUserId, type Caller } from './actor.ts';
import { authorizeBindingChange, type BindingAuthority, enterTenant, keepingAnOwner, requirePermission } from './authority.ts';
import { isUniqueViolation } from './db-errors.ts';
import { decodeCursor, type Page, pageQuery, toPage } from './pagination.ts';
import { recordChange } from './record.ts';
import { assertPrincipalInTenant, assertScopeInTenant, futureInstant, principalRef, scopeRef } from './refs.ts';
import { loadRole } from './roles.ts';

/**
 * Scope bindings (ADR-0006): a tenant role bound to a user or workload at the tenant, a team or
 * a project, optionally until `expires_at`. Bindings are immutable — change one by creating
 * the new binding and deleting the old — so every grant and revocation is one audited event.
 */

export const createBindingInput = z
  .object({
    role_id: z.uuid(),
    principal: principalRef,
    scope: scopeRef,
    expires_at: futureInstant.optional(),
  })
  .strict();
export type CreateBindingInput = z.infer<typeof createBindingInput>;

export const listBindingsQuery = z
  .object({
    ...pageQuery,
    principal_type: z.enum(['user', 'workload']).optional(),
    principal_id: z.uuid().optional(),
    role_id: z.uuid().optional(),
    scope_type: z.enum(['tenant', 'team', 'project']).optional(),
    scope_id: z.string().min(1).max(256).optional(),
  })
  .strict();
export type ListBindingsQuery = z.infer<typeof listBindingsQuery>;

export interface BindingView {
  id: string;
  role: { id: string; key: string };
  principal: PrincipalRef;
  scope: ScopeRef;
  expires_at: Date | null;
  created_at: Date;
  created_by: string | null;
}

interface BindingRow {
  id: string;
  role_id: string;
  role_key: string;
  principal_type: PrincipalRef['type'];
  principal_id: string;
  scope_type: ScopeRef['type'];
  scope_id: string;
  expires_at: Date | null;
  created_at: Date;
  created_by: string | null;
}

const toView = (r: BindingRow): BindingView => ({
  id: r.id,
  role: { id: r.role_id, key: r.role_key },
  principal: { type: r.principal_type, id: r.principal_id },
  scope: { type: r.scope_type, id: r.scope_id },
  expires_at: r.expires_at,
  created_at: r.created_at,
  created_by: r.created_by,
});

function bindingsQuery(trx: Knex | Knex.Transaction, tenantId: string) {
  return trx('scope_bindings as b')
    .join('roles as r', function () {
      this.on('r.tenant_id', '=', 'b.tenant_id').andOn('r.id', '=', 'b.role_id');
    })
    .where('b.tenant_id', tenantId)
    .select(
      'b.id',
      'b.role_id',
      'r.key as role_key',
      'b.principal_type',
      'b.principal_id',
      'b.scope_type',
      'b.scope_id',
      'b.expires_at',
      'b.created_at',
      'b.created_by',
    );
}

async function loadBinding(trx: Knex.Transaction, tenantId: string, bindingId: string): Promise<BindingView> {
  const row = (await bindingsQuery(trx, tenantId).where('b.id', bindingId).first()) as BindingRow | undefined;
  if (!row) throw new AppError('not_found', { detail: 'no such binding' });
  return toView(row);
}

const authorityDetails = (a: BindingAuthority) =>
  a.kind === 'delegation' ? { authority: 'delegation', delegation_id: a.delegationId } : { authority: a.kind };

export async function createBinding(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: CreateBindingInput,
): Promise<BindingView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  assertScopeInTenant(tenantId, input.scope);
  const role = await loadRole(trx, tenantId, input.role_id);
  await assertPrincipalInTenant(trx, tenantId, input.principal);
  const authority = await authorizeBindingChange(trx, access, role, input.scope);
  let id: string;
  try {
    const [row] = await trx('scope_bindings')
      .insert({
        tenant_id: tenantId,
        role_id: role.id,
        principal_type: input.principal.type,
        principal_id: input.principal.id,
        scope_type: input.scope.type,
        scope_id: input.scope.id,
        expires_at: input.expires_at ?? null,
        created_by: actorUserId(caller.actor),
      })
      .returning('id');
    id = (row as { id: string }).id;
  } catch (err) {
    if (isUniqueViolation(err, 'scope_bindings_unique_key')) {
      throw new AppError('conflict', {
        detail: 'the principal already has this role at this scope',
        extensions: { reason: 'already_bound' },
      });
    }
    throw err;
  }
  await recordChange(trx, caller, {
    action: 'authz.binding.created',
    tenantId,
    target: { type: 'binding', id },
    details: {
      role: role.key,
      principal: input.principal,
      scope: input.scope,
      expires_at: input.expires_at ?? null,
      ...authorityDetails(authority),
    },
    event: { data: { binding_id: id, principal: input.principal, role: role.key, scope: input.scope } },
  });
  return loadBinding(trx, tenantId, id);
}

export async function listBindings(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  query: ListBindingsQuery,
): Promise<Page<BindingView>> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  const scope = query.scope_type && query.scope_id ? { type: query.scope_type, id: query.scope_id } : undefined;
  requirePermission(access, 'iam.bindings.read', scope);
  const after = decodeCursor(query.cursor);
  const q = bindingsQuery(trx, tenantId);
  if (query.principal_type) q.where('b.principal_type', query.principal_type);
  if (query.principal_id) q.where('b.principal_id', query.principal_id);
  if (query.role_id) q.where('b.role_id', query.role_id);
  if (query.scope_type) q.where('b.scope_type', query.scope_type);
  if (query.scope_id) q.where('b.scope_id', query.scope_id);
  if (after) q.where('b.id', '>', after);
  const rows = (await q.orderBy('b.id').limit(query.limit + 1)) as BindingRow[];
  return toPage(rows, query.limit, toView);
}

export async function getBinding(trx: Knex.Transaction, caller: Caller, tenantId: string, bindingId: string): Promise<BindingView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  const binding = await loadBinding(trx, tenantId, bindingId);
  requirePermission(access, 'iam.bindings.read', binding.scope);
  return binding;
}

export async function deleteBinding(trx: Knex.Transaction, caller: Caller, tenantId: string, bindingId: string): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  const binding = await loadBinding(trx, tenantId, bindingId);
  const role = await loadRole(trx, tenantId, binding.role.id);
  const authority = await authorizeBindingChange(trx, access, role, binding.scope);
  await keepingAnOwner(trx, tenantId, () => trx('scope_bindings').where({ tenant_id: tenantId, id: bindingId }).delete());
  await recordChange(trx, caller, {
    action: 'authz.binding.revoked',
    tenantId,
    target: { type: 'binding', id: bindingId },
    details: { role: role.key, principal: binding.principal, scope: binding.scope, ...authorityDetails(authority) },
    event: { data: { binding_id: bindingId } },
  });
}
