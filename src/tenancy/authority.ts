import type { Knex } from 'knex';
import { effectivePermissions, evaluate } from '../authz/evaluate.ts';
import { loadPrincipalGrants } from '../authz/grants-store.ts';
import type { PrincipalGrants, PrincipalRef, ScopeRef } from '../authz/model.ts';
import { AppError } from '../errors/index.ts';
import { type Actor, principalOf } from './actor.ts';

/**
 * Who may do what through the admin API (ADR-0017). Every decision is taken by the check
 * engine (`evaluate` / `effectivePermissions`) over grants loaded inside the write's own
 * transaction, after the tenant's revision row is locked (`tenantWrite`): the decision and
 * the change see the same state.
 *
 * - A caller with no identity in the tenant gets 404 — the tenant does not exist for it.
 * - A member without the permission gets 403.
 * - No escalation: granting, changing or revoking a binding needs every permission of the
 *   role at that scope; an override needs the permission itself; a delegation lets its
 *   delegate administer the delegated roles at its scope, never more than the delegator
 *   still holds there.
 * - The scope chain for these decisions is the tenant plus the target scope only: IAM does not
 *   know which team a project belongs to (ADR-0006), and a caller-supplied chain would let
 *   the actor claim authority over any project by naming its own team as the parent.
 */

export interface TenantAccess {
  tenantId: string;
  tenantStatus: 'active' | 'suspended' | 'deleted';
  actor: Actor;
  /** The caller as a principal of the tenant (absent for platform administrators from outside). */
  principal?: PrincipalRef;
  grants?: PrincipalGrants;
  /** Acting as platform administrator: the tenant's grants do not limit it. */
  platform: boolean;
  now: Date;
}

export interface EnterOptions {
  /** Platform administrators may still see and restore a deleted tenant before its purge. */
  allowDeleted?: boolean;
}

const notFound = () => new AppError('not_found', { detail: 'no such tenant' });

export function chainFor(tenantId: string, scope?: ScopeRef): ScopeRef[] {
  const tenant: ScopeRef = { type: 'tenant', id: tenantId };
  return !scope || scope.type === 'tenant' ? [tenant] : [tenant, scope];
}

/** Resolves the caller in the tenant and loads its grants, or answers 404/403. */
export async function enterTenant(trx: Knex.Transaction, tenantId: string, actor: Actor, opts: EnterOptions = {}): Promise<TenantAccess> {
  if (actor.tokenTenantId && actor.tokenTenantId !== tenantId && !actor.platformAdmin) throw notFound();
  const tenant = await trx('tenants').where({ id: tenantId }).first('status');
  if (!tenant) throw notFound();
  const status = tenant.status as TenantAccess['tenantStatus'];
  const now = new Date();
  if (status === 'deleted' && !(actor.platformAdmin && opts.allowDeleted)) throw notFound();
  const principal = await principalOf(trx, tenantId, actor);
  if (actor.platformAdmin) return { tenantId, tenantStatus: status, actor, principal, platform: true, now };
  if (!principal) throw notFound();
  const grants = await loadPrincipalGrants(trx, tenantId, principal);
  if (!grants.active) {
    switch (grants.inactiveReason) {
      case 'tenant_suspended':
        throw new AppError('forbidden', { detail: 'the tenant is suspended' });
      case 'membership_suspended':
      case 'workload_disabled':
        throw new AppError('forbidden', { detail: 'your membership of this tenant is suspended' });
      default:
        throw notFound();
    }
  }
  return { tenantId, tenantStatus: status, actor, principal, grants, platform: false, now };
}

/** 403 unless the check engine allows `permission` on the tenant (and `scope`, when given). */
export function requirePermission(access: TenantAccess, permission: string, scope?: ScopeRef): void {
  if (access.platform) return;
  const decision = evaluate(access.grants as PrincipalGrants, permission, chainFor(access.tenantId, scope), access.now);
  if (!decision.allowed) {
    throw new AppError('forbidden', {
      detail: `this needs ${permission}${scope && scope.type !== 'tenant' ? ` at ${scope.type} ${scope.id}` : ''}`,
      extensions: { missing_permissions: [permission] },
    });
  }
}

export function holds(access: TenantAccess, permission: string, scope?: ScopeRef): boolean {
  if (access.platform) return true;
  return evaluate(access.grants as PrincipalGrants, permission, chainFor(access.tenantId, scope), access.now).allowed;
}

/** Permissions of `wanted` the caller does not hold at the scope (sorted, for stable messages). */
export function missingPermissions(access: TenantAccess, wanted: Iterable<string>, scope?: ScopeRef): string[] {
  if (access.platform) return [];
  const held = effectivePermissions(access.grants as PrincipalGrants, chainFor(access.tenantId, scope), access.now);
  return [...new Set(wanted)].filter((p) => !held.has(p)).sort();
}

function escalation(what: string, missing: string[]): AppError {
  return new AppError('forbidden', {
    detail: `${what} needs permissions you do not hold there: ${missing.join(', ')}`,
    extensions: { missing_permissions: missing },
  });
}

/** 403 unless the caller holds every one of `permissions` at `scope`. */
export function requireHolding(access: TenantAccess, permissions: Iterable<string>, scope: ScopeRef | undefined, what: string): void {
  const missing = missingPermissions(access, permissions, scope);
  if (missing.length) throw escalation(what, missing);
}

export interface RoleFacts {
  id: string;
  key: string;
  permissions: readonly string[];
}

/** How a binding change was authorised; recorded in its audit event. */
export type BindingAuthority = { kind: 'platform' } | { kind: 'own' } | { kind: 'delegation'; delegationId: string };

/**
 * May the caller bind (or unbind) `role` at `scope`? Either it holds `iam.bindings.manage` and
 * every permission of the role there, or a live delegation names the role at that scope (or
 * the whole tenant) and its delegator still holds every permission of the role there.
 */
export async function authorizeBindingChange(
  trx: Knex.Transaction,
  access: TenantAccess,
  role: RoleFacts,
  scope: ScopeRef,
): Promise<BindingAuthority> {
  if (access.platform) return { kind: 'platform' };
  const manages = holds(access, 'iam.bindings.manage', scope);
  const missing = missingPermissions(access, role.permissions, scope);
  if (manages && missing.length === 0) return { kind: 'own' };
  const delegationId = await coveringDelegation(trx, access, role, scope);
  if (delegationId) return { kind: 'delegation', delegationId };
  if (!manages) {
    throw new AppError('forbidden', {
      detail: `changing a binding of role ${role.key} here needs iam.bindings.manage or a delegation of that role at this scope`,
      extensions: { missing_permissions: ['iam.bindings.manage'] },
    });
  }
  throw escalation(`changing a binding of role ${role.key}`, missing);
}

async function coveringDelegation(
  trx: Knex.Transaction,
  access: TenantAccess,
  role: RoleFacts,
  scope: ScopeRef,
): Promise<string | undefined> {
  const principal = access.principal;
  if (!principal) return undefined;
  const rows = (await trx('delegations as d')
    .join('delegation_roles as dr', function () {
      this.on('dr.tenant_id', '=', 'd.tenant_id').andOn('dr.delegation_id', '=', 'd.id');
    })
    .where({ 'd.tenant_id': access.tenantId, 'd.delegate_type': principal.type, 'd.delegate_id': principal.id, 'dr.role_id': role.id })
    .whereNull('d.revoked_at')
    .andWhere((q) => q.whereNull('d.expires_at').orWhere('d.expires_at', '>', trx.fn.now()))
    .andWhere((q) => q.where('d.scope_type', 'tenant').orWhere((q2) => q2.where({ 'd.scope_type': scope.type, 'd.scope_id': scope.id })))
    .orderBy('d.id')
    .select('d.id', 'd.delegator_type', 'd.delegator_id')) as { id: string; delegator_type: 'user' | 'workload'; delegator_id: string }[];
  for (const d of rows) {
    const delegator = await loadPrincipalGrants(trx, access.tenantId, { type: d.delegator_type, id: d.delegator_id });
    const held = effectivePermissions(delegator, chainFor(access.tenantId, scope), access.now);
    if (role.permissions.every((p) => held.has(p))) return d.id;
  }
  return undefined;
}

/**
 * May the caller change everything `target` holds (suspend, remove)? Doing so revokes each of
 * its bindings and overrides, so the caller must hold each of their permissions at their scope.
 */
export async function requireAuthorityOver(trx: Knex.Transaction, access: TenantAccess, target: PrincipalRef): Promise<void> {
  if (access.platform) return;
  const grants = await loadPrincipalGrants(trx, access.tenantId, target);
  const missing = new Set<string>();
  for (const b of grants.bindings) for (const p of missingPermissions(access, b.permissions, b.scope)) missing.add(p);
  for (const o of grants.overrides) for (const p of missingPermissions(access, [o.permission], o.scope)) missing.add(p);
  if (missing.size) throw escalation('changing this member', [...missing].sort());
}

/** Active members holding a live `owner` binding on the whole tenant. */
export async function countOwners(trx: Knex.Transaction, tenantId: string): Promise<number> {
  const { rows } = (await trx.raw(
    `select count(distinct b.principal_id)::int as n
       from scope_bindings b
       join roles r on r.tenant_id = b.tenant_id and r.id = b.role_id and r.key = 'owner' and r.is_system
       join memberships m on m.tenant_id = b.tenant_id and m.user_id = b.principal_id and m.status = 'active'
      where b.tenant_id = ? and b.principal_type = 'user' and b.scope_type = 'tenant'
        and (b.expires_at is null or b.expires_at > now())`,
    [tenantId],
  )) as { rows: { n: number }[] };
  return rows[0]?.n ?? 0;
}

/**
 * Runs a change that could take away the tenant's last owner and undoes it (by throwing inside
 * the transaction) when it would. Checked after the change, so every path that removes an
 * owner — removal, suspension, leaving, unbinding — is covered by the same rule.
 */
export async function keepingAnOwner<T>(trx: Knex.Transaction, tenantId: string, change: () => Promise<T>): Promise<T> {
  const before = await countOwners(trx, tenantId);
  const result = await change();
  if (before > 0 && (await countOwners(trx, tenantId)) === 0) {
    throw new AppError('conflict', {
      detail: 'the last owner of a tenant cannot be removed, suspended or unbound; make someone else owner first',
      extensions: { reason: 'last_owner' },
    });
  }
  return result;
}
