import {
  type BindingGrant,
  type Decision,
  type OverrideGrant,
  type PrincipalGrants,
  SCOPE_TYPES,
  type ScopeRef,
  type ScopeType,
  tenantScope,
} from './model.ts';

/**
 * The check engine (ADR-0006): pure functions of a principal's grants, a scope chain and the
 * clock. The tenant scope always applies, whether or not the chain names it; a chain naming
 * another tenant matches nothing and is denied outright. Grants anywhere on the chain apply;
 * expired grants (expiresAt <= now) do not exist; a deny override anywhere wins over any allow.
 *
 * Which grant is *reported* is deterministic so that equal inputs give equal reasons (audits
 * and tests compare them): a deny override first, then a binding granting the permission, then
 * an allow override — each time the widest scope first, then the smallest id.
 */

const SCOPE_RANK = Object.fromEntries(SCOPE_TYPES.map((t, i) => [t, i])) as Record<ScopeType, number>;

const NO_GRANT: Decision = { allowed: false, reason: { kind: 'no_grant' } };

/** The chain the grants are matched against, or null when it names a foreign tenant. */
function effectiveChain(tenantId: string, chain: readonly ScopeRef[]): ScopeRef[] | null {
  const out: ScopeRef[] = [tenantScope(tenantId)];
  for (const s of chain) {
    if (s.type === 'tenant') {
      if (s.id !== tenantId) return null;
      continue;
    }
    out.push(s);
  }
  return out;
}

function onChain(scope: ScopeRef, chain: readonly ScopeRef[]): boolean {
  for (const s of chain) if (s.type === scope.type && s.id === scope.id) return true;
  return false;
}

function live(expiresAt: Date | null, now: Date): boolean {
  return expiresAt === null || expiresAt.getTime() > now.getTime();
}

/** Widest scope first, then id: the tie-break for the reported grant. */
function precedes(a: { id: string; scope: ScopeRef }, b: { id: string; scope: ScopeRef }): boolean {
  const ra = SCOPE_RANK[a.scope.type];
  const rb = SCOPE_RANK[b.scope.type];
  if (ra !== rb) return ra < rb;
  return a.id < b.id;
}

function copyScope(s: ScopeRef): ScopeRef {
  return { type: s.type, id: s.id };
}

export function evaluate(grants: PrincipalGrants, permission: string, chain: readonly ScopeRef[], now: Date): Decision {
  if (!grants.active) {
    return { allowed: false, reason: { kind: 'inactive', detail: grants.inactiveReason ?? 'inactive' } };
  }
  const scopes = effectiveChain(grants.tenantId, chain);
  if (!scopes) return NO_GRANT;

  let deny: OverrideGrant | undefined;
  let allowOverride: OverrideGrant | undefined;
  for (const o of grants.overrides) {
    if (o.permission !== permission || !live(o.expiresAt, now) || !onChain(o.scope, scopes)) continue;
    if (o.effect === 'deny') {
      if (!deny || precedes(o, deny)) deny = o;
    } else if (!allowOverride || precedes(o, allowOverride)) {
      allowOverride = o;
    }
  }
  if (deny) {
    return {
      allowed: false,
      reason: { kind: 'override', overrideId: deny.id, effect: 'deny', scope: copyScope(deny.scope), reason: deny.reason },
    };
  }

  let binding: BindingGrant | undefined;
  for (const b of grants.bindings) {
    if (binding && !precedes(b, binding)) continue;
    if (!live(b.expiresAt, now) || !onChain(b.scope, scopes) || !b.permissions.includes(permission)) continue;
    binding = b;
  }
  if (binding) {
    return {
      allowed: true,
      reason: { kind: 'binding', bindingId: binding.id, roleKey: binding.roleKey, scope: copyScope(binding.scope) },
    };
  }
  if (allowOverride) {
    return {
      allowed: true,
      reason: {
        kind: 'override',
        overrideId: allowOverride.id,
        effect: 'allow',
        scope: copyScope(allowOverride.scope),
        reason: allowOverride.reason,
      },
    };
  }
  return NO_GRANT;
}

/** Every permission `evaluate` would allow on this chain at `now`. */
export function effectivePermissions(grants: PrincipalGrants, chain: readonly ScopeRef[], now: Date): Set<string> {
  const out = new Set<string>();
  if (!grants.active) return out;
  const scopes = effectiveChain(grants.tenantId, chain);
  if (!scopes) return out;
  for (const b of grants.bindings) {
    if (!live(b.expiresAt, now) || !onChain(b.scope, scopes)) continue;
    for (const p of b.permissions) out.add(p);
  }
  const denied: string[] = [];
  for (const o of grants.overrides) {
    if (!live(o.expiresAt, now) || !onChain(o.scope, scopes)) continue;
    if (o.effect === 'allow') out.add(o.permission);
    else denied.push(o.permission);
  }
  for (const p of denied) out.delete(p);
  return out;
}
