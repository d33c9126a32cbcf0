import { expect } from 'chai';
import { createLocalJWKSet, decodeProtectedHeader, errors, type JWK, jwtVerify } from 'jose';
import { KeyError, type KeyService, type KeySetChange, type Signer, signJwt } from '../../src/keys/index.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { keyRows, keyService, keysConfig, manualClock, newKek, PRIVATE_MEMBERS } from './support.ts';

const realNow = () => Math.floor(Date.now() / 1000);

async function token(signer: Signer, claims: Record<string, unknown> = {}): Promise<string> {
  return signJwt(signer, { typ: 'at+jwt' }, { iss: 'https://iam.test', sub: 'u1', exp: realNow() + 3600, ...claims });
}

async function verifies(jwt: string, jwks: { keys: JWK[] }): Promise<boolean> {
  try {
    await jwtVerify(jwt, createLocalJWKSet(jwks), { issuer: 'https://iam.test' });
    return true;
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) return false;
    throw err;
  }
}

const kids = (s: KeyService) => s.jwks().keys.map((k) => k.kid);

describe('keys: KeyService against PostgreSQL', function () {
  this.timeout(60_000);
  let tdb: TestDatabase;
  const services: KeyService[] = [];
  const track = (s: KeyService) => {
    services.push(s);
    return s;
  };

  before(async () => {
    tdb = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.stop()));
    await tdb.db('signing_keys').delete();
  });
  after(() => tdb.drop());

  it('bootstraps exactly one active ES256 access key and one active Ed25519 refresh key, publishing public parts only', async () => {
    const kek = newKek();
    const metrics = createMetrics();
    const svc = track(keyService(tdb.db, kek, { metrics }));
    const changes = await svc.start();
    expect(changes.map((c) => [c.purpose, c.from, c.to])).to.deep.equal([
      ['access', null, 'active'],
      ['refresh', null, 'active'],
    ]);
    // A second start (another instance, or a restart) creates nothing.
    expect(await track(keyService(tdb.db, kek)).start()).to.deep.equal([]);

    const rows = await keyRows(tdb.db);
    expect(rows.map((r) => [r.purpose, r.alg, r.state])).to.deep.equal([
      ['access', 'ES256', 'active'],
      ['refresh', 'EdDSA', 'active'],
    ]);
    const { keys } = svc.jwks();
    expect(keys).to.have.length(2);
    const access = keys.find((k) => k.alg === 'ES256');
    const refresh = keys.find((k) => k.alg === 'EdDSA');
    expect(access).to.include({ kty: 'EC', crv: 'P-256', use: 'sig', kid: svc.activeSigner('access').kid });
    expect(refresh).to.include({ kty: 'OKP', crv: 'Ed25519', use: 'sig', kid: svc.activeSigner('refresh').kid });
    for (const k of keys) for (const m of PRIVATE_MEMBERS) expect(k).not.to.have.property(m);

    const gauge = await metrics.signingKeys.get();
    const active = gauge.values.filter((v) => v.labels.state === 'active').map((v) => [v.labels.purpose, v.value]);
    expect(active).to.deep.equal([
      ['access', 1],
      ['refresh', 1],
    ]);
    expect((await metrics.signingKeyRotations.get()).values.map((v) => v.labels.reason)).to.deep.equal(['bootstrap', 'bootstrap']);
  });

  it('signs JOSE-format JWTs with both purposes that verify against the JWKS', async () => {
    const svc = track(keyService(tdb.db, newKek()));
    await svc.start();
    const es = svc.activeSigner('access');
    const sig = await es.sign(new TextEncoder().encode('x'));
    expect(sig).to.have.length(64); // r||s, not DER
    for (const purpose of ['access', 'refresh'] as const) {
      const jwt = await token(svc.activeSigner(purpose));
      expect(decodeProtectedHeader(jwt)).to.deep.equal({
        typ: 'at+jwt',
        alg: purpose === 'access' ? 'ES256' : 'EdDSA',
        kid: svc.activeSigner(purpose).kid,
      });
      expect(await verifies(jwt, svc.jwks())).to.equal(true);
    }
  });

  it('publishes a rotated key before it signs, retires the old one and unpublishes it after the grace', async () => {
    const clock = manualClock();
    const svc = track(keyService(tdb.db, newKek(), { now: clock.now, config: keysConfig({ publish_lead_s: 60, retire_grace_s: 300 }) }));
    await svc.start();
    const old = svc.activeSigner('access');
    const oldToken = await token(old);

    const [created] = await svc.rotate('access');
    expect(created).to.include({ purpose: 'access', from: null, to: 'pending' });
    const next = created?.kid as string;
    expect(kids(svc)).to.include.members([old.kid, next]);
    expect(svc.activeSigner('access').kid).to.equal(old.kid);
    expect(await svc.rotate('access')).to.deep.equal([]); // idempotent while pending

    clock.advance(59);
    expect(await svc.runMaintenance()).to.deep.equal([]);
    clock.advance(1);
    expect(await svc.runMaintenance()).to.deep.equal([
      { kid: old.kid, purpose: 'access', from: 'active', to: 'retired' },
      { kid: next, purpose: 'access', from: 'pending', to: 'active' },
    ]);
    await svc.refresh();
    expect(svc.activeSigner('access').kid).to.equal(next);
    expect(kids(svc)).to.include.members([old.kid, next]);
    expect(await verifies(oldToken, svc.jwks())).to.equal(true);
    expect(await verifies(await token(svc.activeSigner('access')), svc.jwks())).to.equal(true);

    clock.advance(299);
    expect(await svc.runMaintenance()).to.deep.equal([]);
    expect(await verifies(oldToken, svc.jwks())).to.equal(true);
    clock.advance(1);
    // Leaves JWKS on time even before the job or a refresh has run.
    expect(kids(svc)).not.to.include(old.kid);
    expect(await verifies(oldToken, svc.jwks())).to.equal(false);
    expect(await svc.runMaintenance()).to.deep.equal([{ kid: old.kid, purpose: 'access', from: 'retired', to: 'removed' }]);
    // Listeners (the engine keystore) still hear about it on the next refresh.
    const seen: KeySetChange[] = [];
    svc.onChange((c) => seen.push(c));
    await svc.refresh();
    expect(seen.map((c) => c.jwks.keys.map((j) => j.kid))).to.deep.equal([kids(svc)]);
    const removed = (await keyRows(tdb.db)).find((r) => r.kid === old.kid);
    expect(removed).to.include({ state: 'removed', private_key_envelope: null });
  });

  it('starts scheduled rotations when the active key is older than rotation_interval_s', async () => {
    const clock = manualClock();
    const svc = track(
      keyService(tdb.db, newKek(), { now: clock.now, config: keysConfig({ rotation_interval_s: 3600, publish_lead_s: 60 }) }),
    );
    await svc.start();
    clock.advance(3599);
    expect(await svc.runMaintenance()).to.deep.equal([]);
    clock.advance(1);
    const started = await svc.runMaintenance();
    expect(started.map((c) => [c.purpose, c.to])).to.deep.equal([
      ['access', 'pending'],
      ['refresh', 'pending'],
    ]);
    expect(await svc.runMaintenance()).to.deep.equal([]);
    clock.advance(60);
    expect((await svc.runMaintenance()).filter((c) => c.to === 'active')).to.have.length(2);
  });

  it('lets a second instance see a rotation after refresh() without restart, firing onChange', async () => {
    const kek = newKek();
    const clock = manualClock();
    const a = track(keyService(tdb.db, kek, { now: clock.now }));
    const b = track(keyService(tdb.db, kek, { now: clock.now }));
    await a.start();
    await b.start();
    const seen: KeySetChange[] = [];
    b.onChange((c) => seen.push(c));

    const [pending] = await a.rotate('refresh');
    await b.refresh();
    expect(seen).to.have.length(1);
    expect(seen[0]?.jwks.keys.map((k) => k.kid)).to.include(pending?.kid);
    await b.refresh();
    expect(seen).to.have.length(1); // nothing changed, nothing fired

    clock.advance(60);
    await a.runMaintenance();
    await b.refresh();
    expect(seen).to.have.length(2);
    expect(seen[1]?.active.refresh).to.equal(pending?.kid);
    expect(b.activeSigner('refresh').kid).to.equal(pending?.kid);
  });

  it('lets a second instance pick up a rotation through its own timer', async () => {
    const kek = newKek();
    const config = keysConfig({ refresh_interval_s: 1 });
    const a = track(keyService(tdb.db, kek, { config }));
    const b = track(keyService(tdb.db, kek, { config }));
    await a.start();
    await b.start();
    const changed = new Promise<KeySetChange>((resolve) => b.onChange(resolve));
    await a.rotate('access', { immediate: true });
    const change = await Promise.race([
      changed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no onChange')), 5000)),
    ]);
    expect(change.active.access).to.equal(a.activeSigner('access').kid);
    expect(b.activeSigner('access').kid).to.equal(a.activeSigner('access').kid);
  });

  it('revoke unpublishes a key at once; revoking the active key activates a successor immediately', async () => {
    const clock = manualClock();
    const svc = track(keyService(tdb.db, newKek(), { now: clock.now }));
    await svc.start();
    const [pending] = await svc.rotate('access');
    const pendingKid = pending?.kid as string;
    expect(await svc.revoke(pendingKid, 'test: never needed')).to.deep.equal([
      { kid: pendingKid, purpose: 'access', from: 'pending', to: 'revoked' },
    ]);
    expect(kids(svc)).not.to.include(pendingKid);

    const active = svc.activeSigner('access');
    const leaked = await token(active);
    const changes = await svc.revoke(active.kid, 'key material leaked');
    expect(changes[0]).to.deep.equal({ kid: active.kid, purpose: 'access', from: 'active', to: 'revoked' });
    expect(changes[1]).to.include({ purpose: 'access', from: null, to: 'active' });
    const successor = svc.activeSigner('access');
    expect(successor.kid).to.equal(changes[1]?.kid);
    expect(kids(svc)).not.to.include(active.kid);
    expect(await verifies(leaked, svc.jwks())).to.equal(false);
    expect(await verifies(await token(successor), svc.jwks())).to.equal(true);
    const row = (await keyRows(tdb.db)).find((r) => r.kid === active.kid);
    expect(row).to.include({ state: 'revoked', private_key_envelope: null });

    const reasons = await Promise.all([
      svc.revoke(active.kid, 'again').catch((e: KeyError) => e.reason),
      svc.revoke('nope', 'x').catch((e: KeyError) => e.reason),
    ]);
    expect(reasons).to.deep.equal(['key_already_revoked', 'key_not_found']);
    const list = await svc.list();
    expect(list.find((k) => k.kid === active.kid)).to.include({ state: 'revoked', published: false, revoke_reason: 'key material leaked' });
  });

  it('promotes the already-published pending key when the active key is revoked', async () => {
    const svc = track(keyService(tdb.db, newKek()));
    await svc.start();
    const [pending] = await svc.rotate('access');
    const old = svc.activeSigner('access').kid;
    const changes = await svc.revoke(old, 'compromised');
    expect(changes).to.deep.equal([
      { kid: old, purpose: 'access', from: 'active', to: 'revoked' },
      { kid: pending?.kid, purpose: 'access', from: 'pending', to: 'active' },
    ]);
    expect(svc.activeSigner('access').kid).to.equal(pending?.kid);
  });

  it('refuses to load or create keys under a different KEK', async () => {
    await track(keyService(tdb.db, newKek())).start();
    const wrong = track(keyService(tdb.db, newKek()));
    const err = await wrong.rotate('access').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(KeyError).with.property('reason', 'kek_mismatch');
    const loadErr = await wrong.refresh().catch((e: unknown) => e);
    expect(loadErr).to.be.instanceOf(KeyError).with.property('reason', 'kek_mismatch');
    expect(await keyRows(tdb.db)).to.have.length(2);
  });

  it('signs through an external signer for keys it does not hold (KMS seam)', async () => {
    const kek = newKek();
    const local = track(keyService(tdb.db, kek));
    await local.start();
    const inner = local.activeSigner('access');
    // Pretend the key lives in a KMS: no envelope, another signer name.
    await tdb.db('signing_keys').where({ kid: inner.kid }).update({ signer: 'kms:test', private_key_envelope: null });
    let calls = 0;
    const viaKms = (d: Uint8Array) => {
      calls += 1;
      return inner.sign(d);
    };
    const kms = track(
      keyService(tdb.db, kek, {
        externalSigner: (key) =>
          key.signer === 'kms:test' ? { kid: key.kid, alg: key.alg, publicJwk: key.publicJwk, sign: viaKms } : undefined,
      }),
    );
    await kms.refresh();
    const jwt = await token(kms.activeSigner('access'));
    expect(calls).to.equal(1);
    expect(await verifies(jwt, kms.jwks())).to.equal(true);
  });

  it('throws a typed error before the key set is loaded', () => {
    const svc = keyService(tdb.db, newKek());
    expect(() => svc.activeSigner('access'))
      .to.throw(KeyError)
      .with.property('reason', 'no_active_key');
  });
});
