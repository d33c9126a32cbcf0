import { expect } from 'chai';
import fc from 'fast-check';
import { effectivePermissions, evaluate } from '../../src/authz/evaluate.ts';
import type { BindingGrant, Decision, OverrideGrant, PrincipalGrants, ScopeRef } from '../../src/authz/model.ts';

/*
 * A reference evaluator written straight from ADR-0006, as plainly as possible (sets of
 * "type:id" strings, filter, sort), compared with the engine over random grants and chains.
 */

const TENANT = 't-1';
const NOW = new Date('2026-11-28T12:00:00.000Z');
const PERMISSIONS = ['svc.doc.read', 'svc.doc.write', 'svc.doc.delete', 'iam.members.read'];
const RANK = { tenant: 0, team: 1, project: 2 } as const;

const key = (s: ScopeRef) => `${s.type}:${s.id}`;

function referenceDecision(g: PrincipalGrants, permission: string, chain: ScopeRef[], now: Date): Decision {
  if (!g.active) return { allowed: false, reason: { kind: 'inactive', detail: g.inactiveReason ?? 'inactive' } };
  if (chain.some((s) => s.type === 'tenant' && s.id !== g.tenantId)) return { allowed: false, reason: { kind: 'no_grant' } };
  const applicable = new Set([`tenant:${g.tenantId}`, ...chain.map(key)]);
  const alive = (e: Date | null) => e === null || e > now;
  const order = <T extends { id: string; scope: ScopeRef }>(xs: T[]) =>
    [...xs].sort((a, b) => RANK[a.scope.type] - RANK[b.scope.type] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const overrides = g.overrides.filter((o) => o.permission === permission && alive(o.expiresAt) && applicable.has(key(o.scope)));
  const denies = order(overrides.filter((o) => o.effect === 'deny'));
  if (denies.length) {
    const d = denies[0] as OverrideGrant;
    return { allowed: false, reason: { kind: 'override', overrideId: d.id, effect: 'deny', scope: d.scope, reason: d.reason } };
  }
  const bindings = order(
    g.bindings.filter((b) => alive(b.expiresAt) && applicable.has(key(b.scope)) && b.permissions.includes(permission)),
  );
  if (bindings.length) {
    const b = bindings[0] as BindingGrant;
    return { allowed: true, reason: { kind: 'binding', bindingId: b.id, roleKey: b.roleKey, scope: b.scope } };
  }
  const allows = order(overrides.filter((o) => o.effect === 'allow'));
  if (allows.length) {
    const a = allows[0] as OverrideGrant;
    return { allowed: true, reason: { kind: 'override', overrideId: a.id, effect: 'allow', scope: a.scope, reason: a.reason } };
  }
  return { allowed: false, reason: { kind: 'no_grant' } };
}

// Small pools so that grants and chains collide often.
const scopeArb: fc.Arbitrary<ScopeRef> = fc.oneof(
  fc.record({ type: fc.constant('tenant' as const), id: fc.constantFrom(TENANT, 't-2') }),
  fc.record({ type: fc.constant('team' as const), id: fc.constantFrom('team-a', 'team-b', 'x') }),
  fc.record({ type: fc.constant('project' as const), id: fc.constantFrom('proj-a', 'proj-b', 'x') }),
);
const expiryArb = fc.oneof(
  fc.constant(null),
  fc.constant(new Date(NOW.getTime())),
  fc.integer({ min: -3, max: 3 }).map((d) => new Date(NOW.getTime() + d * 1000)),
);
const idArb = fc.constantFrom('01', '02', '03', '04', '05', '06', '07', '08', '09', '10');

const bindingArb: fc.Arbitrary<BindingGrant> = fc.record({
  id: idArb,
  roleId: fc.constantFrom('r1', 'r2', 'r3'),
  roleKey: fc.constantFrom('owner', 'viewer', 'custom'),
  scope: scopeArb,
  expiresAt: expiryArb,
  permissions: fc.subarray(PERMISSIONS),
});
const overrideArb: fc.Arbitrary<OverrideGrant> = fc.record({
  id: idArb,
  permission: fc.constantFrom(...PERMISSIONS),
  effect: fc.constantFrom('allow' as const, 'deny' as const),
  scope: scopeArb,
  expiresAt: expiryArb,
  reason: fc.constantFrom('incident', 'contractor', 'audit'),
});
const grantsArb: fc.Arbitrary<PrincipalGrants> = fc
  .record({
    active: fc.boolean(),
    inactiveReason: fc.constantFrom('tenant_suspended', 'membership_suspended'),
    bindings: fc.uniqueArray(bindingArb, { maxLength: 8, selector: (b) => b.id }),
    overrides: fc.uniqueArray(overrideArb, { maxLength: 6, selector: (o) => o.id }),
    revision: fc.nat(),
  })
  .map(({ active, inactiveReason, ...rest }) => ({
    tenantId: TENANT,
    principal: { type: 'user' as const, id: 'u-1' },
    active,
    ...(active ? {} : { inactiveReason }),
    ...rest,
  }));
const chainArb = fc.array(scopeArb, { maxLength: 4 });
const nowArb = fc.integer({ min: -2, max: 2 }).map((d) => new Date(NOW.getTime() + d * 1000));

describe('authz evaluate: property test against a reference evaluator', () => {
  it('decides exactly like the reference, reason included', () => {
    fc.assert(
      fc.property(grantsArb, fc.constantFrom(...PERMISSIONS, 'svc.other.read'), chainArb, nowArb, (g, p, chain, now) => {
        expect(evaluate(g, p, chain, now)).to.deep.equal(referenceDecision(g, p, chain, now));
      }),
      { numRuns: 3000 },
    );
  });

  it('lists exactly the permissions the reference allows', () => {
    fc.assert(
      fc.property(grantsArb, chainArb, nowArb, (g, chain, now) => {
        const expected = PERMISSIONS.filter((p) => referenceDecision(g, p, chain, now).allowed).sort();
        expect([...effectivePermissions(g, chain, now)].sort()).to.deep.equal(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('does not depend on the order of grants or of the chain', () => {
    fc.assert(
      fc.property(grantsArb, fc.constantFrom(...PERMISSIONS), chainArb, (g, p, chain) => {
        const shuffled: PrincipalGrants = { ...g, bindings: [...g.bindings].reverse(), overrides: [...g.overrides].reverse() };
        expect(evaluate(shuffled, p, [...chain].reverse(), NOW)).to.deep.equal(evaluate(g, p, chain, NOW));
      }),
      { numRuns: 1000 },
    );
  });

  it('a deny override on the chain is never overruled', () => {
    fc.assert(
      fc.property(grantsArb, fc.constantFrom(...PERMISSIONS), chainArb, (g, p, chain) => {
        const active: PrincipalGrants = { ...g, active: true };
        const scope = chain.find((s) => s.type !== 'tenant') ?? { type: 'tenant' as const, id: TENANT };
        const denied: PrincipalGrants = {
          ...active,
          overrides: [...active.overrides, { id: 'zz', permission: p, effect: 'deny', scope, expiresAt: null, reason: 'stop' }],
        };
        expect(evaluate(denied, p, chain, NOW).allowed).to.equal(false);
        expect(effectivePermissions(denied, chain, NOW).has(p)).to.equal(false);
      }),
      { numRuns: 1000 },
    );
  });
});
