import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { backoffDelay } from '../../src/outbox/backoff.ts';
import { defaultSource, toKafkaRecord } from '../../src/outbox/cloudevents.ts';
import {
  CONTRACT_TOPICS,
  enqueueEvent,
  KNOWN_EVENT_TYPES,
  OutboxUsageError,
  purgePublished,
  readOutboxStats,
  requeueParked,
  topicForType,
} from '../../src/outbox/index.ts';
import { LANE_COUNT, laneOf } from '../../src/outbox/lanes.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { repoRoot } from '../support/services.ts';
import { validateEnvelope } from './support.ts';

const tenantId = '0190f0e0-0000-7000-8000-000000000001';

describe('outbox: enqueue', function () {
  this.timeout(60_000);
  let t: TestDatabase;

  before(async () => {
    t = await createTestDatabase();
  });
  after(async () => {
    await t?.drop();
  });

  it('refuses to write an event outside a transaction', async () => {
    const event = { type: 'com.infranotes.iam.user.created', key: 'u1', data: {} };
    let err: unknown;
    try {
      await enqueueEvent(t.db as never, event);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TypeError).and.instanceOf(OutboxUsageError);

    // A transaction that already committed is no better: the change it described is done.
    const trx = await t.db.transaction();
    await trx.commit();
    err = undefined;
    await enqueueEvent(trx, event).catch((e: unknown) => {
      err = e;
    });
    expect(err).to.be.instanceOf(TypeError);
    expect(await t.db('outbox_events').where({ key: 'u1' })).to.have.length(0);
  });

  it('stores the event with its derived topic, lane, uuidv7 id and writing transaction', async () => {
    const time = new Date('2026-11-28T10:00:00.123Z');
    const res = await t.db.transaction((trx) =>
      enqueueEvent(trx, {
        type: 'com.infranotes.iam.token.revoked',
        key: 'grant-1',
        tenantId,
        subject: 'tok-1',
        data: { jti: 'tok-1' },
        time,
      }),
    );
    expect(res.topic).to.equal('iam.token.v1');
    expect(res.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const row = await t.db('outbox_events').where({ id: res.id }).first();
    expect(row).to.include({
      topic: 'iam.token.v1',
      key: 'grant-1',
      lane: laneOf('grant-1'),
      status: 'pending',
      attempts: 0,
      tenant_id: tenantId,
    });
    expect(row.data).to.deep.equal({ jti: 'tok-1' });
    expect(row.occurred_at.toISOString()).to.equal(time.toISOString());
    expect(row.txid).to.match(/^\d+$/);
  });

  it('keeps JSON arrays and scalars as JSON (not PostgreSQL arrays)', async () => {
    const ids = await t.db.transaction(async (trx) => [
      await enqueueEvent(trx, { type: 'com.infranotes.iam.audit.recorded', key: 'a', data: [1, 'two', { three: 3 }] }),
      await enqueueEvent(trx, { type: 'com.infranotes.iam.audit.recorded', key: 'a', data: undefined }),
    ]);
    const rows = await t
      .db('outbox_events')
      .whereIn(
        'id',
        ids.map((i) => i.id),
      )
      .orderBy('position');
    expect(rows.map((r) => r.data)).to.deep.equal([[1, 'two', { three: 3 }], null]);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const trx = await t.db.transaction();
    const { id } = await enqueueEvent(trx, { type: 'com.infranotes.iam.user.disabled', key: 'u2', data: {} });
    await trx.rollback();
    expect(await t.db('outbox_events').where({ id })).to.have.length(0);
  });

  it('rejects malformed events before touching the database', async () => {
    const bad = [
      { type: 'user.created', key: 'k', data: {} },
      { type: 'com.infranotes.iam.spaceship.launched', key: 'k', data: {} },
      { type: 'com.infranotes.iam.user.created', key: '', data: {} },
      { type: 'com.infranotes.iam.user.created', key: 'k', id: 'not-a-uuid', data: {} },
      { type: 'com.infranotes.iam.user.created', key: 'k', tenantId: 'acme', data: {} },
      { type: 'com.infranotes.iam.user.created', key: 'k', topic: 'bad topic', data: {} },
      { type: 'com.infranotes.iam.user.created', key: 'k', data: { n: 1n } },
    ];
    for (const event of bad) {
      const trx = await t.db.transaction();
      try {
        let err: unknown;
        await enqueueEvent(trx, event).catch((e: unknown) => {
          err = e;
        });
        expect(
          err,
          JSON.stringify(event, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
        ).to.be.instanceOf(OutboxUsageError);
      } finally {
        await trx.rollback();
      }
    }
  });

  it('purges only published events older than the retention', async () => {
    const ids = await t.db.transaction(async (trx) => {
      const out: string[] = [];
      for (let i = 0; i < 5; i++)
        out.push((await enqueueEvent(trx, { type: 'com.infranotes.iam.user.created', key: `p${i}`, data: {} })).id);
      return out;
    });
    const old = new Date(Date.now() - 8 * 86_400_000);
    await t.db('outbox_events').whereIn('id', ids.slice(0, 3)).update({ status: 'published', published_at: old });
    await t.db('outbox_events').where({ id: ids[3] }).update({ status: 'published', published_at: new Date() });
    const purged = await purgePublished(t.db, new Date(Date.now() - 7 * 86_400_000), { batchSize: 2 });
    expect(purged).to.equal(3);
    expect((await t.db('outbox_events').whereIn('id', ids)).map((r) => r.id).sort()).to.deep.equal([ids[3], ids[4]].sort());
  });

  it('requeues parked events and reports pending, parked and lag', async () => {
    await t.db('outbox_events').update({ status: 'published', published_at: new Date() }).where({ status: 'pending' });
    const { id } = await t.db.transaction((trx) =>
      enqueueEvent(trx, { type: 'com.infranotes.iam.user.created', key: 'q', data: {}, time: new Date(Date.now() - 30_000) }),
    );
    await t.db('outbox_events').where({ id }).update({ status: 'parked', attempts: 12, last_error: 'boom' });
    expect(await readOutboxStats(t.db)).to.deep.include({ pending: 0, parked: 1, lagSeconds: 0 });
    expect(await requeueParked(t.db, [id])).to.equal(1);
    const stats = await readOutboxStats(t.db);
    expect(stats).to.include({ pending: 1, parked: 0 });
    expect(stats.lagSeconds).to.be.within(29, 120);
    expect(await t.db('outbox_events').where({ id }).first()).to.include({ status: 'pending', attempts: 0, last_error: null });
  });
});

describe('outbox: topics, envelope and backoff', () => {
  it('derives the topic from the event type', () => {
    expect(topicForType('com.infranotes.iam.token.revoked')).to.equal('iam.token.v1');
    expect(topicForType('com.infranotes.iam.auth.login.failed')).to.equal('iam.auth.v1');
    expect(topicForType('com.infranotes.iam.authz.binding.created')).to.equal('iam.authz.v1');
    expect(topicForType('com.infranotes.iam.membership.added')).to.equal('iam.membership.v1');
    expect(() => topicForType('com.infranotes.iam.nope.done')).to.throw(OutboxUsageError);
    for (const type of KNOWN_EVENT_TYPES) expect(CONTRACT_TOPICS).to.include(topicForType(type));
  });

  it('keeps contracts/kafka-events.md in step with the topics and event types in code', () => {
    const doc = readFileSync(join(repoRoot, 'contracts/kafka-events.md'), 'utf8');
    for (const topic of CONTRACT_TOPICS) expect(doc, topic).to.include(`\`${topic}\``);
    for (const type of KNOWN_EVENT_TYPES) {
      const short = type.replace('com.infranotes.iam.', '');
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${short}\``));
      expect(row, `${short} is listed`).to.be.a('string');
      expect(row, `${short} is listed under its topic`).to.include(`\`${topicForType(type)}\``);
    }
  });

  it('spreads keys over every lane, deterministically', () => {
    const lanes = new Set(Array.from({ length: 2_000 }, (_, i) => laneOf(`key-${i}`)));
    expect(lanes.size).to.equal(LANE_COUNT);
    expect(laneOf('grant-1')).to.equal(laneOf('grant-1'));
  });

  it('builds a structured-mode CloudEvents record that satisfies the envelope schema', () => {
    const record = toKafkaRecord(
      {
        position: 1,
        id: '0190f0e0-0000-7000-8000-0000000000aa',
        topic: 'iam.user.v1',
        key: 'user-1',
        type: 'com.infranotes.iam.user.created',
        source: null,
        subject: null,
        tenantId,
        data: { id: 'user-1' },
        occurredAt: new Date('2026-11-28T10:00:00Z'),
        attempts: 0,
      },
      defaultSource('https://iam.example.com:8443/'),
      'pfx.',
    );
    expect(record).to.include({ topic: 'pfx.iam.user.v1', key: 'user-1' });
    expect(record.headers).to.deep.equal({
      ce_id: '0190f0e0-0000-7000-8000-0000000000aa',
      ce_type: 'com.infranotes.iam.user.created',
      'content-type': 'application/cloudevents+json',
    });
    const value = JSON.parse(record.value) as Record<string, unknown>;
    expect(value).to.deep.equal({
      specversion: '1.0',
      id: '0190f0e0-0000-7000-8000-0000000000aa',
      source: '//iam.infranotes/iam.example.com:8443',
      type: 'com.infranotes.iam.user.created',
      time: '2026-11-28T10:00:00.000Z',
      datacontenttype: 'application/json',
      data: { id: 'user-1' },
      tenantid: tenantId,
      partitionkey: 'user-1',
    });
    expect(validateEnvelope(value)).to.deep.equal([]);
    expect(validateEnvelope({ ...value, specversion: '0.3', Bad_Name: 1 })).to.have.length(2);
    expect(validateEnvelope({ ...value, id: undefined, partitionkey: undefined })).to.have.length.greaterThan(0);
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { baseMs: 100, maxMs: 5_000 };
    expect(backoffDelay(1, policy, () => 0)).to.equal(50);
    expect(backoffDelay(1, policy, () => 1)).to.equal(100);
    expect(backoffDelay(4, policy, () => 1)).to.equal(800);
    expect(backoffDelay(50, policy, () => 1)).to.equal(5_000);
    expect(backoffDelay(50, policy, () => 0)).to.equal(2_500);
  });
});
