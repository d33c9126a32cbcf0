import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { type KeyValueStore, MemoryStore, RedisStore } from '../../src/store/index.ts';
import { services, testLogger } from '../support/services.ts';

const implementations: [string, () => Promise<KeyValueStore>][] = [
  ['memory', async () => new MemoryStore()],
  [
    'redis',
    async () => {
      const s = new RedisStore({ url: services.redisUrl, keyPrefix: `iam-test-${randomUUID()}:`, logger: testLogger });
      await s.ready();
      return s;
    },
  ],
];

for (const [name, make] of implementations) {
  describe(`key-value store: ${name}`, () => {
    let store: KeyValueStore;
    before(async () => {
      store = await make();
    });
    after(async () => {
      await store.close();
    });

    it('sets, gets and expires values', async () => {
      await store.set('a', '1', 60_000);
      expect(await store.get('a')).to.equal('1');
      await store.set('short', 'x', 30);
      await new Promise((r) => setTimeout(r, 80));
      expect(await store.get('short')).to.equal(null);
      await store.del('a');
      expect(await store.get('a')).to.equal(null);
    });

    it('getDel hands a single-use value to exactly one of 20 parallel callers', async () => {
      await store.set('code', 'secret', 60_000);
      const results = await Promise.all(Array.from({ length: 20 }, () => store.getDel('code')));
      expect(results.filter((r) => r === 'secret')).to.have.length(1);
    });

    it('setIfAbsent lets exactly one of 20 parallel callers win', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.setIfAbsent('marker', String(i), 60_000)));
      expect(results.filter(Boolean)).to.have.length(1);
    });

    it('incr counts atomically and keeps the first TTL', async () => {
      const results = await Promise.all(Array.from({ length: 25 }, () => store.incr('counter', 60_000)));
      expect([...results].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 25 }, (_, i) => i + 1));
    });

    it('publishes to subscribers until they unsubscribe', async () => {
      const got: string[] = [];
      const unsubscribe = await store.subscribe('chan', (m) => got.push(m));
      await store.publish('chan', 'hello');
      await new Promise((r) => setTimeout(r, 100));
      await unsubscribe();
      await store.publish('chan', 'after');
      await new Promise((r) => setTimeout(r, 100));
      expect(got).to.deep.equal(['hello']);
    });

    it('answers ping', async () => {
      expect(await store.ping()).to.be.a('number');
    });
  });
}

describe('key-value store: redis unavailable', () => {
  it('fails fast instead of queueing commands (callers fail closed)', async () => {
    const s = new RedisStore({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:', logger: testLogger });
    const started = Date.now();
    let failed = false;
    try {
      await s.incr('attempts', 1000);
    } catch {
      failed = true;
    }
    expect(failed).to.equal(true);
    expect(Date.now() - started).to.be.lessThan(3000);
    await s.close();
  });
});
