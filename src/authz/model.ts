/**
 * The authorization model as the check engine sees it (ADR-0006, ADR-0016): one principal's
 * grants in one tenant, a scope chain, and the decision with the grant that decided it.
 * Plain data only, so the evaluator stays a pure function and the write side (no-escalation
 * checks) can evaluate hypothetical grants with the same code.
 */

export type PrincipalType = 'user' | 'workload';
export type ScopeType = 'tenant' | 'team' | 'project';

export const PRINCIPAL_TYPES: readonly PrincipalType[] = ['user', 'workload'];
/** Widest first: the order a scope chain is written in and the order reasons are preferred in. */
export const SCOPE_TYPES: readonly ScopeType[] = ['tenant', 'team', 'project'];

export interface ScopeRef {
  type: ScopeType;
  id: string;
}

export interface PrincipalRef {
  type: PrincipalType;
  id: string;
}

export interface BindingGrant {
  id: string;
  roleId: string;
  roleKey: string;
  scope: ScopeRef;
  expiresAt: Date | null;
  /** The role's permissions at the time the snapshot was read. */
  permissions: readonly string[];
}

export interface OverrideGrant {
  id: string;
  permission: string;
  effect: 'allow' | 'deny';
  scope: ScopeRef;
  expiresAt: Date | null;
  reason: string;
}

export interface PrincipalGrants {
  tenantId: string;
  principal: PrincipalRef;
  /** Tenant active AND (workload, or user with an active membership). */
  active: boolean;
  /** Why `active` is false: `tenant_suspended`, `tenant_deleted`, `tenant_not_found`, `membership_suspended`, `not_a_member`, … */
  inactiveReason?: string;
  bindings: BindingGrant[];
  overrides: OverrideGrant[];
  /** The tenant's authz revision this snapshot reflects (0 when the tenant never had an authz write). */
  revision: number;
}

export type DecisionReason =
  | { kind: 'binding'; bindingId: string; roleKey: string; scope: ScopeRef }
  | { kind: 'override'; overrideId: string; effect: 'allow' | 'deny'; scope: ScopeRef; reason: string }
  | { kind: 'no_grant' }
  | { kind: 'inactive'; detail: string };

export interface Decision {
  allowed: boolean;
  reason: DecisionReason;
}

export function tenantScope(tenantId: string): ScopeRef {
  return { type: 'tenant', id: tenantId };
}
