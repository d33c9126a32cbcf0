import { expect } from 'chai';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../../src/config/schema.ts';
import { enqueueEvent, type OutboxRelay } from '../../src/outbox/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { ensureKafka } from '../support/services.ts';
import { consume, drainAll, enqueueCommitted, enqueueOne, idsByKey, newRelay, relayConfig, uniquePrefix, waitFor } from './support.ts';

const userCreated = (key: string, n = 0) => ({ type: 'com.infranotes.iam.user.created', key, data: { id: key, n } });

describe('outbox relay → Kafka @integration', function () {
  this.timeout(90_000);
  let t: TestDatabase;
  let brokers: string[];
  const relays: OutboxRelay[] = [];

  before(async function () {
    this.timeout(240_000);
    brokers = await ensureKafka();
    t = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    // Each test starts from an empty outbox; its topics are private to it (unique prefix).
    await t.db('outbox_events').delete();
  });
  after(async () => {
    await t?.drop();
  });

  function relayFor(prefix: string, config: Config = relayConfig(brokers)) {
    const r = newRelay(t.db, config, prefix);
    relays.push(r.relay);
    return r;
  }

  it('never publishes an event whose transaction rolled back', async () => {
    const prefix = uniquePrefix();
    const { relay } = relayFor(prefix);
    const trx = await t.db.transaction();
    const rolledBack = await enqueueEvent(trx, userCreated('u-rollback'));
    await trx.rollback();
    const marker = await enqueueOne(t.db, userCreated('u-marker'));

    await drainAll(relay, t.db);
    const msgs = await consume(brokers, [`${prefix}iam.user.v1`], { until: (m) => m.some((x) => x.event.id === marker), settleMs: 500 });
    expect(msgs.map((m) => m.event.id)).to.deep.equal([marker]);
    expect(msgs.map((m) => m.event.id)).not.to.include(rolledBack.id);
    const [m] = msgs;
    expect(m?.key).to.equal('u-marker');
    expect(m?.headers).to.deep.include({
      ce_id: marker,
      ce_type: 'com.infranotes.iam.user.created',
      'content-type': 'application/cloudevents+json',
    });
    expect(m?.event).to.deep.include({
      source: '//iam.infranotes/iam.test.example',
      partitionkey: 'u-marker',
      data: { id: 'u-marker', n: 0 },
    });
  });

  it('does not lose an event whose transaction commits after a later one (visibility horizon)', async () => {
    const prefix = uniquePrefix();
    const { relay } = relayFor(prefix);
    const trxA = await t.db.transaction();
    const a = await enqueueEvent(trxA, userCreated('u-a'));
    const b = await enqueueOne(t.db, userCreated('u-b'));
    const bRow = await t.db('outbox_events').where({ id: b }).first();
    expect(a.position).to.be.lessThan(bRow.position);

    // A is still open: B may or may not go out now, but A must not be passed over for good.
    await relay.drainOnce();
    await trxA.commit();
    await drainAll(relay, t.db);

    const rows = await t.db('outbox_events').whereIn('id', [a.id, b]);
    expect(rows.map((r) => r.status)).to.deep.equal(['published', 'published']);
    const msgs = await consume(brokers, [`${prefix}iam.user.v1`], { until: (m) => new Set(m.map((x) => x.event.id)).size >= 2 });
    expect(new Set(msgs.map((m) => m.event.id))).to.deep.equal(new Set([a.id, b]));
  });

  it('delivers many events over a few keys in enqueue order per key, across topics', async () => {
    const prefix = uniquePrefix();
    const { relay, metrics } = relayFor(prefix, relayConfig(brokers, { outbox: { batch_size: 7 } }));
    const keys = ['k1', 'k2', 'k3', 'k4'];
    const events = Array.from({ length: 120 }, (_, i) => {
      const key = keys[i % keys.length] as string;
      return i % 3 === 0 ? { type: 'com.infranotes.iam.token.revoked', key, data: { n: i } } : userCreated(key, i);
    });
    // Several per transaction as well as one per transaction.
    const ids: string[] = [];
    for (let i = 0; i < events.length; i += 4) {
      const chunk = events.slice(i, i + 4);
      await t.db.transaction(async (trx) => {
        for (const e of chunk) ids.push((await enqueueEvent(trx, e)).id);
      });
    }
    const positions = await t.db('outbox_events').select('id', 'key', 'topic').orderBy('position');

    await relay.start();
    await waitFor(
      'all events published',
      async () => (await t.db('outbox_events').where({ status: 'pending' }).first()) === undefined,
      30_000,
    );
    const topics = [`${prefix}iam.user.v1`, `${prefix}iam.token.v1`];
    const msgs = await consume(brokers, topics, { until: (m) => new Set(m.map((x) => x.event.id)).size >= ids.length });

    expect(new Set(msgs.map((m) => m.event.id)).size).to.equal(ids.length);
    const got = idsByKey(msgs.map((m) => ({ ...m, key: `${m.topic}|${m.key}` })));
    for (const topic of ['iam.user.v1', 'iam.token.v1']) {
      for (const key of keys) {
        const want = positions.filter((p) => p.key === key && p.topic === topic).map((p) => p.id);
        expect(got.get(`${prefix}${topic}|${key}`), `${topic}/${key}`).to.deep.equal(want);
      }
    }
    expect((await metrics.registry.getSingleMetric('iam_outbox_published_total')?.get())?.values[0]?.value).to.equal(ids.length);
    const text = await metrics.render();
    expect(text).to.match(/^iam_outbox_pending 0$/m);
    expect(text).to.match(/^iam_outbox_lag_seconds 0$/m);
    expect(relay.status()).to.include({ enabled: true, connected: true, pending: 0, lastError: null });
  });

  it('parks a poison event after max_attempts; its key waits until then, other keys flow', async () => {
    const prefix = uniquePrefix();
    const { relay, metrics } = relayFor(
      prefix,
      relayConfig(brokers, { outbox: { max_attempts: 2, backoff_base_ms: 200, backoff_max_ms: 400 } }),
    );
    await relay.drainOnce(); // connect and provision the topics first
    // Over the broker's 1 MiB max.message.bytes: Kafka refuses this event and nothing else.
    const big = { type: 'com.infranotes.iam.audit.recorded', key: 'poison', data: { blob: 'x'.repeat(1_100_000) } };
    const small = (n: number) => ({ type: 'com.infranotes.iam.audit.recorded', key: 'poison', data: { n } });
    // An event routed to a topic that does not exist (provisioning covers contract topics only).
    const lost = { type: 'com.infranotes.iam.audit.recorded', key: 'lost', topic: 'iam.nowhere.v1', data: {} };
    const [bigId, after1, after2] = await enqueueCommitted(t.db, [big, small(1), small(2)]);
    const [lostId] = await enqueueCommitted(t.db, [lost]);
    const others = await enqueueCommitted(t.db, [userCreated('fine-1'), userCreated('fine-2'), userCreated('fine-1', 2)]);

    await relay.drainOnce();
    // First round: the healthy keys are out, the poison key is held behind its first event.
    const statusOf = async (id: string | undefined) => (await t.db('outbox_events').where({ id }).first()).status as string;
    for (const id of others) expect(await statusOf(id)).to.equal('published');
    expect(await statusOf(bigId)).to.equal('pending');
    expect(await statusOf(after1)).to.equal('pending');

    await waitFor(
      'the poison events to be parked',
      async () => {
        await relay.drainOnce();
        return (await statusOf(bigId)) === 'parked' && (await statusOf(lostId)) === 'parked';
      },
      60_000,
      100,
    );
    const parked = await t.db('outbox_events').where({ id: bigId }).first();
    expect(parked).to.include({ attempts: 2 });
    expect(parked.last_error).to.be.a('string').and.not.equal('');
    // Parking released the key: the events behind it go out, still in order.
    await drainAll(relay, t.db);
    const msgs = await consume(brokers, [`${prefix}iam.audit.v1`], { until: (m) => m.length >= 2, settleMs: 300 });
    expect(msgs.map((m) => m.event.id)).to.deep.equal([after1, after2]);

    expect(relay.status()).to.include({ parked: 2, pending: 0 });
    const failures = (await metrics.registry.getSingleMetric('iam_outbox_publish_failures_total')?.get())?.values[0]?.value;
    expect(failures).to.be.at.least(4);
    expect(await metrics.render()).to.match(/^iam_outbox_parked 2$/m);
  });

  it('re-creates a contract topic the cluster lost instead of burning the events’ attempts', async () => {
    const prefix = uniquePrefix();
    const { relay } = relayFor(prefix);
    await relay.drainOnce(); // connected, topics provisioned
    const admin = new Kafka({ clientId: 'outbox-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [`${prefix}iam.tenant.v1`] });
      await waitFor('the topic to be gone', async () => !(await admin.listTopics()).includes(`${prefix}iam.tenant.v1`), 20_000);
    } finally {
      await admin.disconnect();
    }
    const id = await enqueueOne(t.db, { type: 'com.infranotes.iam.tenant.created', key: 'tenant-1', data: { id: 'tenant-1' } });
    await drainAll(relay, t.db, 40_000);
    expect(await t.db('outbox_events').where({ id }).first()).to.include({ status: 'published', attempts: 0 });
    const msgs = await consume(brokers, [`${prefix}iam.tenant.v1`], { until: (m) => m.length >= 1 });
    expect(msgs.map((m) => m.event.id)).to.deep.equal([id]);
  });

  it('stays disabled without brokers: events wait in PostgreSQL and the status says so', async () => {
    const { relay, metrics } = relayFor(uniquePrefix(), relayConfig([]));
    await relay.start();
    await enqueueCommitted(t.db, [userCreated('idle-1'), userCreated('idle-2')]);
    expect(await relay.drainOnce()).to.deep.equal({ claimed: 0, published: 0, retried: 0, parked: 0 });
    await metrics.render();
    expect(relay.status()).to.include({ enabled: false, disabledReason: 'no_brokers', connected: false, pending: 2 });
    expect(await t.db('outbox_events').where({ status: 'pending' })).to.have.length(2);
  });
});
