import { expect } from 'chai';
import type { KeyPurpose, KeyState, SigningKey } from '../../src/keys/index.ts';
import { isPublishable } from '../../src/keys/index.ts';
import { planMaintenance, planRevocation, planRotation } from '../../src/keys/lifecycle.ts';

const T0 = new Date('2027-01-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const timings = { publishLeadS: 60, retireGraceS: 300, rotationIntervalS: 3600 };

function key(kid: string, purpose: KeyPurpose, state: KeyState, extra: Partial<SigningKey> = {}): SigningKey {
  return {
    id: kid,
    kid,
    purpose,
    alg: purpose === 'access' ? 'ES256' : 'EdDSA',
    state,
    publicJwk: {},
    envelope: null,
    signer: 'local',
    createdAt: T0,
    activatesAt: T0,
    activatedAt: state === 'active' ? T0 : null,
    retiredAt: null,
    removeAfter: null,
    removedAt: null,
    revokedAt: null,
    revokeReason: null,
    ...extra,
  };
}

const both = (a: SigningKey, r: SigningKey) => [a, r];

describe('keys: lifecycle rules', () => {
  it('bootstraps a purpose without an active key', () => {
    expect(planMaintenance([], T0, timings)).to.deep.equal([
      { kind: 'create', purpose: 'access', state: 'active' },
      { kind: 'create', purpose: 'refresh', state: 'active' },
    ]);
  });

  it('does nothing while a pending key waits for its lead time', () => {
    const keys = [
      ...both(key('a1', 'access', 'active'), key('r1', 'refresh', 'active')),
      key('a2', 'access', 'pending', { activatesAt: at(60) }),
    ];
    expect(planMaintenance(keys, at(59), timings)).to.deep.equal([]);
  });

  it('retires the active key before promoting the due pending key', () => {
    const keys = [
      ...both(key('a1', 'access', 'active'), key('r1', 'refresh', 'active')),
      key('a2', 'access', 'pending', { activatesAt: at(60) }),
    ];
    expect(planMaintenance(keys, at(60), timings)).to.deep.equal([
      { kind: 'retire', kid: 'a1', purpose: 'access' },
      { kind: 'activate', kid: 'a2', purpose: 'access' },
    ]);
  });

  it('removes retired keys once their grace has passed', () => {
    const retired = key('a0', 'access', 'retired', { retiredAt: T0, removeAfter: at(300) });
    const keys = [...both(key('a1', 'access', 'active'), key('r1', 'refresh', 'active')), retired];
    expect(isPublishable(retired, at(299))).to.equal(true);
    expect(isPublishable(retired, at(300))).to.equal(false);
    expect(planMaintenance(keys, at(299), timings)).to.deep.equal([]);
    expect(planMaintenance(keys, at(300), timings)).to.deep.equal([{ kind: 'remove', kid: 'a0', purpose: 'access' }]);
  });

  it('starts one scheduled rotation per purpose when the active key is older than the interval', () => {
    const keys = both(key('a1', 'access', 'active'), key('r1', 'refresh', 'active', { activatedAt: at(10) }));
    expect(planMaintenance(keys, at(3600), timings)).to.deep.equal([{ kind: 'create', purpose: 'access', state: 'pending' }]);
    expect(planMaintenance(keys, at(3600), { ...timings, rotationIntervalS: 0 })).to.deep.equal([]);
    const waiting = [...keys, key('a2', 'access', 'pending', { activatesAt: at(3660) })];
    expect(planMaintenance(waiting, at(3610), timings)).to.deep.equal([{ kind: 'create', purpose: 'refresh', state: 'pending' }]);
  });

  it('makes a manual rotation idempotent while a key is pending', () => {
    const keys = [key('a1', 'access', 'active'), key('a2', 'access', 'pending')];
    expect(planRotation(keys, 'access')).to.deep.equal([]);
    expect(planRotation(keys, 'refresh')).to.deep.equal([{ kind: 'create', purpose: 'refresh', state: 'pending' }]);
  });

  it('immediate rotation signs with the already-published pending key when there is one', () => {
    expect(planRotation([key('a1', 'access', 'active'), key('a2', 'access', 'pending')], 'access', { immediate: true })).to.deep.equal([
      { kind: 'retire', kid: 'a1', purpose: 'access' },
      { kind: 'activate', kid: 'a2', purpose: 'access' },
    ]);
    expect(planRotation([key('a1', 'access', 'active')], 'access', { immediate: true })).to.deep.equal([
      { kind: 'retire', kid: 'a1', purpose: 'access' },
      { kind: 'create', purpose: 'access', state: 'active' },
    ]);
  });

  it('replaces a revoked active key in the same plan; other states need no replacement', () => {
    const keys = [key('a1', 'access', 'active'), key('a0', 'access', 'retired', { removeAfter: at(10) })];
    expect(planRevocation(keys, 'a1', 'leaked')).to.deep.equal([
      { kind: 'revoke', kid: 'a1', purpose: 'access', from: 'active', reason: 'leaked' },
      { kind: 'create', purpose: 'access', state: 'active' },
    ]);
    expect(planRevocation(keys, 'a0', 'old')).to.deep.equal([
      { kind: 'revoke', kid: 'a0', purpose: 'access', from: 'retired', reason: 'old' },
    ]);
  });
});
