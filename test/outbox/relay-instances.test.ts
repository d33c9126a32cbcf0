import { expect } from 'chai';
import { LANE_COUNT } from '../../src/outbox/lanes.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { ensureKafka } from '../support/services.ts';
import { consume, enqueueCommitted, idsByKey, newRelay, relayConfig, uniquePrefix, waitFor } from './support.ts';

describe('outbox relay: several instances on one database @integration', function () {
  this.timeout(120_000);
  let t: TestDatabase;
  let brokers: string[];

  before(async function () {
    this.timeout(240_000);
    brokers = await ensureKafka();
    t = await createTestDatabase();
  });
  after(async () => {
    await t?.drop();
  });

  it('share the lanes, deliver each event once and keep per-key order; survivors take over a stopped instance', async () => {
    const prefix = uniquePrefix();
    const config = relayConfig(brokers, { outbox: { batch_size: 10, poll_interval_ms: 20 } });
    const a = newRelay(t.db, config, prefix, 'relay-a');
    const b = newRelay(t.db, config, prefix, 'relay-b');
    try {
      await a.relay.start();
      await b.relay.start();
      await waitFor(
        'both instances to hold lanes',
        () => {
          const [la, lb] = [a.relay.status().lanes, b.relay.status().lanes];
          return la > 0 && lb > 0 && la + lb === LANE_COUNT;
        },
        20_000,
      );

      const keys = Array.from({ length: 24 }, (_, i) => `agg-${i}`);
      const events = Array.from({ length: 240 }, (_, i) => ({
        type: 'com.infranotes.iam.client.updated',
        key: keys[(i * 7) % keys.length] as string,
        data: { n: i },
      }));
      // Enqueue while both relays are publishing, so claims and lane ownership interleave.
      const ids = await enqueueCommitted(t.db, events);
      await waitFor(
        'all events published',
        async () => (await t.db('outbox_events').where({ status: 'pending' }).first()) === undefined,
        60_000,
      );

      const publishedBy = async (m: typeof a.metrics) =>
        (await m.registry.getSingleMetric('iam_outbox_published_total')?.get())?.values[0]?.value ?? 0;
      const [byA, byB] = [await publishedBy(a.metrics), await publishedBy(b.metrics)];
      expect(byA, 'instance A published').to.be.greaterThan(0);
      expect(byB, 'instance B published').to.be.greaterThan(0);
      expect(byA + byB).to.equal(ids.length);

      const topic = `${prefix}iam.client.v1`;
      const msgs = await consume(brokers, [topic], { until: (m) => m.length >= ids.length, settleMs: 1_000 });
      expect(msgs).to.have.length(ids.length, 'each event exactly once');
      const order = await t.db('outbox_events').select('id', 'key').orderBy('position');
      const got = idsByKey(msgs);
      for (const key of keys) {
        expect(got.get(key), key).to.deep.equal(order.filter((r) => r.key === key).map((r) => r.id));
      }

      // A goes away: B picks up every lane and carries on.
      await a.relay.stop();
      await waitFor('B to hold every lane', () => b.relay.status().lanes === LANE_COUNT, 20_000);
      const more = await enqueueCommitted(
        t.db,
        keys.map((key) => ({ type: 'com.infranotes.iam.client.updated', key, data: { n: 'after' } })),
      );
      await waitFor(
        'events after the takeover published',
        async () => (await t.db('outbox_events').where({ status: 'pending' }).first()) === undefined,
        30_000,
      );
      const all = await consume(brokers, [topic], { until: (m) => m.length >= ids.length + more.length, settleMs: 500 });
      expect(all).to.have.length(ids.length + more.length);
    } finally {
      await Promise.all([a.relay.stop(), b.relay.stop()]);
    }
  });
});
