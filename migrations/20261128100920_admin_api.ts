import type { Knex } from 'knex';

/**
 * Admin REST API support (ADR-0017): stored responses for `Idempotency-Key` replays, the reason
 * a tenant was suspended or deleted, and invitation resend bookkeeping.
 *
 * An idempotency record is written in the transaction of the create it answers, so a stored
 * response exists exactly when the change does; it is scoped to the authenticated caller
 * (`actor`), never shared across callers, and purged after `expires_at`.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists idempotency_keys (
      id              uuid primary key default uuidv7(),
      actor           text not null,
      key             text not null,
      tenant_id       uuid,
      method          text not null,
      path            text not null,
      request_hash    bytea not null,
      response_status integer not null,
      response_body   jsonb,
      response_headers jsonb not null default '{}',
      created_at      timestamptz not null default now(),
      expires_at      timestamptz not null,
      constraint idempotency_keys_actor_key_key unique (actor, key),
      constraint idempotency_keys_key_format check (key ~ '^[\\x21-\\x7e]{1,255}$'),
      constraint idempotency_keys_request_hash_length check (octet_length(request_hash) = 32),
      constraint idempotency_keys_response_status check (response_status between 200 and 299),
      constraint idempotency_keys_headers_object check (jsonb_typeof(response_headers) = 'object'),
      constraint idempotency_keys_expiry check (expires_at > created_at)
    );
    comment on table idempotency_keys is 'Responses of successful creates keyed by (caller, Idempotency-Key): a retry with the same request replays the response, a different request under the same key is refused. tenant_id is a plain column (no FK): records expire on their own.';
    create index if not exists idempotency_keys_expires_idx on idempotency_keys (expires_at);
    create index if not exists idempotency_keys_tenant_idx on idempotency_keys (tenant_id) where tenant_id is not null;

    alter table tenants add column if not exists status_reason text;
    alter table tenants drop constraint if exists tenants_status_reason_length;
    alter table tenants add constraint tenants_status_reason_length check (status_reason is null or char_length(status_reason) <= 500);
    comment on column tenants.status_reason is 'Why the tenant was suspended or deleted (operator text, shown to platform administrators).';

    alter table invitations add column if not exists last_sent_at timestamptz;
    alter table invitations add column if not exists send_count integer not null default 1;
    alter table invitations drop constraint if exists invitations_send_count_positive;
    alter table invitations add constraint invitations_send_count_positive check (send_count >= 1);
    comment on column invitations.send_count is 'How often the invitation was mailed; a resend replaces token_hash, so only the newest link works.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table invitations drop constraint if exists invitations_send_count_positive;
    alter table invitations drop column if exists send_count;
    alter table invitations drop column if exists last_sent_at;
    alter table tenants drop constraint if exists tenants_status_reason_length;
    alter table tenants drop column if exists status_reason;
    drop table if exists idempotency_keys;
  `);
}
