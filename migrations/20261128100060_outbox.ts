import type { Knex } from 'knex';

// Transactional outbox (ADR-0008). Rows are written in the transaction of the change they
// describe and published to Kafka by the relay (src/outbox/relay.ts). Deliberately free of
// foreign keys: an event outlives the rows it talks about (a deleted tenant still has its
// `tenant.deleted` event to deliver).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table outbox_events (
      -- Publish order. Identity values are handed out at insert, not at commit; the relay's
      -- visibility horizon (txid) is what keeps a late-committing lower position from being lost.
      position bigint generated always as identity primary key,
      -- CloudEvents id; consumers dedupe on it (delivery is at-least-once).
      id uuid not null unique default uuidv7(),
      txid xid8 not null default pg_current_xact_id(),
      -- crc32(key) mod 32, computed by enqueueEvent; relay instances lease lanes with advisory
      -- locks so one key is only ever published by one instance at a time.
      lane smallint not null check (lane between 0 and 31),
      topic text not null check (topic ~ '^[A-Za-z0-9._-]{1,200}$'),
      key text not null check (length(key) between 1 and 512),
      type text not null check (type <> ''),
      -- null: the deployment's default source (derived from the issuer at publish time).
      source text,
      subject text,
      tenant_id uuid,
      data jsonb not null default 'null',
      occurred_at timestamptz not null default now(),
      status text not null default 'pending' check (status in ('pending', 'published', 'parked')),
      attempts integer not null default 0 check (attempts >= 0),
      next_attempt_at timestamptz not null default now(),
      last_error text,
      published_at timestamptz,
      constraint outbox_events_published_has_time check ((status = 'published') = (published_at is not null))
    )
  `);
  // The relay's claim scan: pending rows in publish order (lane rides along to filter without heap visits).
  await knex.raw(`create index outbox_events_pending on outbox_events (position) include (lane, next_attempt_at) where status = 'pending'`);
  // "Is an earlier event of this key still waiting?" — the per-key ordering guard of the claim query.
  await knex.raw(`create index outbox_events_pending_key on outbox_events (topic, key, position) where status = 'pending'`);
  await knex.raw(`create index outbox_events_parked on outbox_events (position) where status = 'parked'`);
  await knex.raw(`create index outbox_events_published on outbox_events (published_at) where status = 'published'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists outbox_events');
}
