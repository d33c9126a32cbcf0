import { expect } from 'chai';
import { createDb, type Knex } from '../../src/db/knex.ts';
import { lockId } from '../../src/db/locks.ts';
import { KEY_LOCK_NAME, type KeyChange } from '../../src/keys/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { keyRows, keyService, keysConfig, manualClock, newKek } from './support.ts';

const count = (changes: KeyChange[], to: string) => changes.filter((c) => c.to === to).length;

describe('keys: one job runner at a time (advisory lock)', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  let other: Knex;
  const kek = newKek();

  before(async () => {
    tdb = await createTestDatabase();
    // A second pool stands in for a second instance: its own connections, same database.
    other = createDb({ url: tdb.url, poolMin: 0, poolMax: 4, statementTimeoutMs: 30_000 });
  });
  beforeEach(() => tdb.db('signing_keys').delete());
  after(async () => {
    await other.destroy();
    await tdb.drop();
  });

  const pair = (config = keysConfig({ rotation_interval_s: 3600 })) => {
    const clock = manualClock();
    return { clock, a: keyService(tdb.db, kek, { now: clock.now, config }), b: keyService(other, kek, { now: clock.now, config }) };
  };

  it('two instances bootstrapping at once create exactly one active key per purpose', async () => {
    for (let i = 0; i < 10; i++) {
      await tdb.db('signing_keys').delete();
      const { a, b } = pair();
      const [ca, cb] = await Promise.all([a.start(), b.start()]);
      // Whichever lost the race waited for the winner's commit: both can sign right away.
      expect(a.activeSigner('access').kid).to.equal(b.activeSigner('access').kid);
      expect(a.activeSigner('refresh').kid).to.equal(b.activeSigner('refresh').kid);
      await Promise.all([a.stop(), b.stop()]);
      expect(ca.length + cb.length).to.equal(2);
      expect((await keyRows(tdb.db)).map((r) => `${r.purpose}:${r.state}`).sort()).to.deep.equal(['access:active', 'refresh:active']);
    }
  });

  it('two instances running the due job at once perform exactly one promotion and one rotation per purpose', async () => {
    for (let i = 0; i < 15; i++) {
      await tdb.db('signing_keys').delete();
      const { clock, a, b } = pair();
      await a.start();

      clock.advance(3600); // rotation due for both purposes
      const started = (await Promise.all([a.runMaintenance(), b.runMaintenance(), a.runMaintenance(), b.runMaintenance()])).flat();
      expect(count(started, 'pending')).to.equal(2);

      clock.advance(60); // the pending keys are due
      const promoted = (await Promise.all([a.runMaintenance(), b.runMaintenance(), a.runMaintenance(), b.runMaintenance()])).flat();
      expect(count(promoted, 'active')).to.equal(2);
      expect(count(promoted, 'retired')).to.equal(2);

      const states = (await keyRows(tdb.db)).map((r) => `${r.purpose}:${r.state}`).sort();
      expect(states).to.deep.equal(['access:active', 'access:retired', 'refresh:active', 'refresh:retired']);
    }
  });

  it('skips the job while another holder has the lock, and waits for it on operator actions', async () => {
    const { clock, a } = pair();
    await a.start();
    clock.advance(3600);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const holder = other.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?::bigint)', [lockId(KEY_LOCK_NAME)]);
      locked();
      await held;
    });
    await isLocked;
    expect(await a.runMaintenance()).to.deep.equal([]);
    let rotated = false;
    const rotation = a.rotate('access', { immediate: true }).then((c) => {
      rotated = true;
      return c;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(rotated).to.equal(false);
    release();
    await holder;
    expect(count(await rotation, 'active')).to.equal(1);
    // The access key was just replaced, so only the refresh key is still due for rotation.
    expect((await a.runMaintenance()).map((c) => [c.purpose, c.to])).to.deep.equal([['refresh', 'pending']]);
  });
});
