import { expect } from 'chai';
import { effectivePermissions, evaluate } from '../../src/authz/evaluate.ts';
import type { BindingGrant, OverrideGrant, PrincipalGrants } from '../../src/authz/model.ts';
import { project, team, tenantScope } from './support.ts';

const T = 'tenant-a';
const NOW = new Date('2026-11-28T12:00:00.000Z');

function grants(bindings: BindingGrant[] = [], overrides: OverrideGrant[] = [], extra: Partial<PrincipalGrants> = {}): PrincipalGrants {
  return { tenantId: T, principal: { type: 'user', id: 'u' }, active: true, bindings, overrides, revision: 3, ...extra };
}
const binding = (id: string, scope = tenantScope(T), permissions = ['svc.doc.read'], expiresAt: Date | null = null): BindingGrant => ({
  id,
  roleId: `role-${id}`,
  roleKey: `key-${id}`,
  scope,
  expiresAt,
  permissions,
});
const ovr = (
  id: string,
  effect: 'allow' | 'deny',
  scope = tenantScope(T),
  permission = 'svc.doc.read',
  expiresAt: Date | null = null,
): OverrideGrant => ({
  id,
  permission,
  effect,
  scope,
  expiresAt,
  reason: `why-${id}`,
});

describe('authz evaluate: edge cases', () => {
  it('denies by default, with no_grant', () => {
    expect(evaluate(grants(), 'svc.doc.read', [], NOW)).to.deep.equal({ allowed: false, reason: { kind: 'no_grant' } });
  });

  it('applies the tenant scope whether or not the chain names it', () => {
    const g = grants([binding('b1')]);
    const expected = { allowed: true, reason: { kind: 'binding', bindingId: 'b1', roleKey: 'key-b1', scope: tenantScope(T) } };
    expect(evaluate(g, 'svc.doc.read', [], NOW)).to.deep.equal(expected);
    expect(evaluate(g, 'svc.doc.read', [team('x'), project('p')], NOW)).to.deep.equal(expected);
    expect(evaluate(g, 'svc.doc.read', [tenantScope(T), team('x')], NOW)).to.deep.equal(expected);
  });

  it('denies a chain naming another tenant, even for a tenant-wide grant', () => {
    const g = grants([binding('b1')]);
    expect(evaluate(g, 'svc.doc.read', [tenantScope('tenant-b')], NOW).reason).to.deep.equal({ kind: 'no_grant' });
    expect(evaluate(g, 'svc.doc.read', [tenantScope(T), tenantScope('tenant-b')], NOW).allowed).to.equal(false);
    expect(effectivePermissions(g, [tenantScope('tenant-b')], NOW).size).to.equal(0);
  });

  it('a team binding covers the project placed under it, not a project elsewhere or the team alone at another id', () => {
    const g = grants([binding('b1', team('t1'))]);
    expect(evaluate(g, 'svc.doc.read', [team('t1'), project('p1')], NOW).allowed).to.equal(true);
    expect(evaluate(g, 'svc.doc.read', [team('t2'), project('p1')], NOW).allowed).to.equal(false);
    expect(evaluate(g, 'svc.doc.read', [project('p1')], NOW).allowed).to.equal(false);
    // Same id, other type: a team "x" is not a project "x".
    expect(evaluate(grants([binding('b2', team('x'))]), 'svc.doc.read', [project('x')], NOW).allowed).to.equal(false);
  });

  it('ignores a grant expiring exactly now, honours one expiring a millisecond later', () => {
    const at = (ms: number) => new Date(NOW.getTime() + ms);
    expect(evaluate(grants([binding('b1', tenantScope(T), ['svc.doc.read'], at(0))]), 'svc.doc.read', [], NOW).allowed).to.equal(false);
    expect(evaluate(grants([binding('b1', tenantScope(T), ['svc.doc.read'], at(1))]), 'svc.doc.read', [], NOW).allowed).to.equal(true);
    // An expired deny no longer denies.
    const g = grants([binding('b1')], [ovr('o1', 'deny', tenantScope(T), 'svc.doc.read', at(0))]);
    expect(evaluate(g, 'svc.doc.read', [], NOW).allowed).to.equal(true);
  });

  it('a deny at the narrowest scope wins over an allow at the widest, and reports the deny', () => {
    const g = grants([binding('b1')], [ovr('o1', 'allow'), ovr('o2', 'deny', project('p1'))]);
    expect(evaluate(g, 'svc.doc.read', [team('t'), project('p1')], NOW)).to.deep.equal({
      allowed: false,
      reason: { kind: 'override', overrideId: 'o2', effect: 'deny', scope: project('p1'), reason: 'why-o2' },
    });
    // Off that project the deny does not apply.
    expect(evaluate(g, 'svc.doc.read', [team('t'), project('p2')], NOW).allowed).to.equal(true);
    // A deny of another permission changes nothing.
    expect(evaluate(g, 'svc.doc.write', [project('p1')], NOW).allowed).to.equal(false);
  });

  it('an allow override grants without a binding; a binding is reported before an allow override', () => {
    const only = grants([], [ovr('o1', 'allow', team('t'))]);
    expect(evaluate(only, 'svc.doc.read', [team('t')], NOW)).to.deep.equal({
      allowed: true,
      reason: { kind: 'override', overrideId: 'o1', effect: 'allow', scope: team('t'), reason: 'why-o1' },
    });
    const both = grants([binding('b9', project('p'))], [ovr('o1', 'allow')]);
    expect(evaluate(both, 'svc.doc.read', [project('p')], NOW).reason).to.include({ kind: 'binding', bindingId: 'b9' });
  });

  it('reports the widest granting binding, then the smallest id', () => {
    const g = grants([
      binding('b0', project('p')),
      binding('b5', team('t')),
      binding('b3', team('t')),
      binding('b1', team('t'), ['other.x.y']),
    ]);
    expect(evaluate(g, 'svc.doc.read', [team('t'), project('p')], NOW).reason).to.include({ kind: 'binding', bindingId: 'b3' });
  });

  it('an inactive principal holds nothing, whatever its grants', () => {
    const g = grants([binding('b1')], [ovr('o1', 'allow')], { active: false, inactiveReason: 'membership_suspended' });
    expect(evaluate(g, 'svc.doc.read', [], NOW)).to.deep.equal({
      allowed: false,
      reason: { kind: 'inactive', detail: 'membership_suspended' },
    });
    expect(effectivePermissions(g, [], NOW).size).to.equal(0);
    expect(evaluate({ ...g, inactiveReason: undefined }, 'svc.doc.read', [], NOW).reason).to.deep.equal({
      kind: 'inactive',
      detail: 'inactive',
    });
  });

  it('effective permissions: union of bindings and allows on the chain, minus denies', () => {
    const g = grants(
      [binding('b1', tenantScope(T), ['svc.doc.read', 'svc.doc.write']), binding('b2', project('p'), ['svc.doc.delete'])],
      [ovr('o1', 'deny', team('t'), 'svc.doc.write'), ovr('o2', 'allow', team('t'), 'svc.extra.use')],
    );
    expect([...effectivePermissions(g, [team('t'), project('p')], NOW)].sort()).to.deep.equal([
      'svc.doc.delete',
      'svc.doc.read',
      'svc.extra.use',
    ]);
    expect([...effectivePermissions(g, [], NOW)].sort()).to.deep.equal(['svc.doc.read', 'svc.doc.write']);
  });

  it('returns reasons that do not alias the grants (callers may serialise or mutate them)', () => {
    const g = grants([binding('b1')]);
    const d = evaluate(g, 'svc.doc.read', [], NOW);
    if (d.reason.kind !== 'binding') throw new Error('expected a binding reason');
    d.reason.scope.id = 'changed';
    expect(g.bindings[0]?.scope.id).to.equal(T);
  });
});
