import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { portOpen, repoRoot } from '../support/services.ts';
import { consume, enqueueCommitted, idsByKey, newRelay, relayConfig, uniquePrefix, waitFor } from './support.ts';

// A broker of this test's own, so stopping it cannot break other suites sharing the default broker
// (scripts/kafka.sh `start` also wipes its data, which would drop their topics).
const port = Number(process.env.IAM_TEST_KAFKA_OUTAGE_PORT ?? 19092);
const broker = `127.0.0.1:${port}`;
const kafkaSh = (cmd: 'start' | 'stop') =>
  promisify(execFile)('bash', [join(repoRoot, 'scripts/kafka.sh'), cmd], {
    timeout: 180_000,
    env: { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1) },
  });

describe('outbox relay: broker outage @integration', function () {
  this.timeout(240_000);
  let t: TestDatabase;

  before(async () => {
    if (await portOpen(broker)) throw new Error(`${broker} is already in use; set IAM_TEST_KAFKA_OUTAGE_PORT`);
    await kafkaSh('start');
    t = await createTestDatabase();
  });
  after(async () => {
    await kafkaSh('stop').catch(() => undefined);
    await t?.drop();
  });

  it('keeps events while Kafka is down, without crashing, and delivers them in per-key order when it returns', async () => {
    const prefix = uniquePrefix();
    const { relay, metrics } = newRelay(t.db, relayConfig([broker], { outbox: { backoff_base_ms: 200, backoff_max_ms: 1_000 } }), prefix);
    const crashes: unknown[] = [];
    const onCrash = (err: unknown) => crashes.push(err);
    process.on('unhandledRejection', onCrash);
    try {
      await relay.start();
      const [warmup] = await enqueueCommitted(t.db, [{ type: 'com.infranotes.iam.user.created', key: 'warm', data: {} }]);
      await waitFor(
        'the relay to publish',
        async () => (await t.db('outbox_events').where({ id: warmup }).first()).status === 'published',
        30_000,
      );
      expect(relay.status().connected).to.equal(true);

      await kafkaSh('stop');
      const keys = ['u1', 'u2', 'u3', 'u4'];
      const ids: string[] = [];
      const seenPending: number[] = [];
      for (let round = 0; round < 10; round++) {
        ids.push(
          ...(await enqueueCommitted(
            t.db,
            keys.map((key) => ({ type: 'com.infranotes.iam.user.disabled', key, data: { round } })),
          )),
        );
        await new Promise((r) => setTimeout(r, 300));
        seenPending.push(relay.status().pending);
      }
      await waitFor('the relay to notice the outage', () => !relay.status().connected, 30_000);
      await waitFor('pending to reach the backlog', () => relay.status().pending >= ids.length, 10_000);
      const down = relay.status();
      expect(down).to.include({ enabled: true, connected: false, lanes: 0 });
      expect(down.lastError).to.be.a('string');
      expect(down.lagSeconds).to.be.greaterThan(0);
      expect(seenPending.at(-1), 'pending grows during the outage').to.be.greaterThan(seenPending[0] ?? 0);
      const scrape = await metrics.render();
      expect(Number(/^iam_outbox_pending (\d+)$/m.exec(scrape)?.[1])).to.equal(ids.length);
      expect(Number(/^iam_outbox_lag_seconds ([\d.e+-]+)$/m.exec(scrape)?.[1])).to.be.greaterThan(0);

      // The broker comes back empty (kafka.sh wipes it): the relay reconnects, re-creates the topics
      // and sends the backlog.
      await kafkaSh('start');
      await waitFor(
        'the backlog to be delivered',
        async () => (await t.db('outbox_events').where({ status: 'pending' }).first()) === undefined,
        60_000,
        250,
      );
      expect(relay.status()).to.include({ connected: true });

      const msgs = await consume([broker], [`${prefix}iam.user.v1`], {
        until: (m) => new Set(m.map((x) => x.event.id)).size >= ids.length,
        timeoutMs: 30_000,
      });
      const got = idsByKey(msgs);
      const order = await t.db('outbox_events').whereIn('id', ids).select('id', 'key').orderBy('position');
      for (const key of keys) expect(got.get(key), key).to.deep.equal(order.filter((r) => r.key === key).map((r) => r.id));
      expect(crashes).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onCrash);
      await relay.stop();
    }
  });
});
