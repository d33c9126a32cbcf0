import type { Knex } from 'knex';

/**
 * Pending OpenID Connect back-channel logout notifications (ADR-0019): one row per client of an
 * ended session, written in the transaction that ends it (disabling a user, from the CLI or the
 * admin API), delivered by whichever service instance claims it (`FOR UPDATE SKIP LOCKED`), with
 * retries, and deleted once the client acknowledged it or the attempts are used up. The logout
 * token itself is signed at delivery, never stored. A `iam_backchannel_logout` NOTIFY on insert
 * wakes the instances.
 */
export const config = { transaction: true };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists backchannel_logouts (
      id              uuid primary key default uuidv7(),
      client_id       text not null,
      account_id      text not null,
      sid             text,
      reason          text not null,
      attempts        integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      last_error      text,
      created_at      timestamptz not null default now(),
      constraint backchannel_logouts_reason_check check (reason in ('user_disabled', 'session_ended')),
      constraint backchannel_logouts_attempts_check check (attempts >= 0)
    );
    comment on table backchannel_logouts is 'Back-channel logout notifications still to deliver (client, subject, session id). Delivered and deleted by the service; the logout token is signed at delivery.';
    create index if not exists backchannel_logouts_due_idx on backchannel_logouts (next_attempt_at);

    create or replace function iam_backchannel_logout_notify() returns trigger
    language plpgsql as $fn$
    begin
      perform pg_notify('iam_backchannel_logout', '');
      return null;
    end
    $fn$;
    create or replace trigger backchannel_logouts_notify after insert on backchannel_logouts
      for each statement execute function iam_backchannel_logout_notify();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger if exists backchannel_logouts_notify on backchannel_logouts;
    drop function if exists iam_backchannel_logout_notify();
    drop table if exists backchannel_logouts;
  `);
}
