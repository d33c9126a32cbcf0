import type { Knex } from 'knex';

/**
 * Append-only audit log with a tamper-evident hash chain.
 *
 * - Append-only: BEFORE UPDATE/DELETE row triggers and a BEFORE TRUNCATE statement trigger
 *   raise, and are ENABLE ALWAYS so `session_replication_role = replica` does not bypass them.
 *   Deployments additionally REVOKE UPDATE, DELETE, TRUNCATE from the application role.
 * - Hash chain: one chain per tenant (tenant_id null = the platform chain, chain_id = nil
 *   UUID). A BEFORE INSERT trigger locks the chain head row (serialising writers of that
 *   chain only), assigns a gapless chain_seq and computes
 *     hash = sha256(prev_hash || convert_to(canonical_text, 'UTF8'))
 *   where canonical_text is the jsonb array text of (chain_seq, id, occurred_at as UTC
 *   ISO-8601 with microseconds, tenant_id, actor_type, actor_id, action, target_type,
 *   target_id, outcome, ip, user_agent, request_id, details) — see iam_audit_digest().
 *   The first prev_hash of a chain is 32 zero bytes. Writers cannot supply their own hash.
 * - iam_audit_verify_chain(chain_id) recomputes the chain and reports the first broken
 *   link (edited row, deleted or swapped row, truncated tail vs the head row).
 * This is tamper evidence, not tamper proofing: anchor exported chain heads externally.
 */
export const config = { transaction: true };

const ACTION = String.raw`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table if not exists audit_chain_heads (
      chain_id   uuid primary key,
      seq        bigint not null,
      hash       bytea not null,
      updated_at timestamptz not null default now(),
      constraint audit_chain_heads_seq_check check (seq >= 0),
      constraint audit_chain_heads_hash_length check (octet_length(hash) = 32)
    );
    comment on table audit_chain_heads is 'Head (last seq, last hash) of each audit hash chain; maintained by the audit_events insert trigger only. Export these to WORM storage as external anchors.';

    create table if not exists audit_events (
      id          uuid primary key default uuidv7(),
      chain_id    uuid not null,
      chain_seq   bigint not null,
      occurred_at timestamptz not null default now(),
      tenant_id   uuid,
      actor_type  text not null,
      actor_id    text,
      action      text not null,
      target_type text,
      target_id   text,
      outcome     text not null,
      ip          inet,
      user_agent  text,
      request_id  text,
      details     jsonb not null default '{}',
      prev_hash   bytea not null,
      hash        bytea not null,
      constraint audit_events_chain_seq_key unique (chain_id, chain_seq),
      constraint audit_events_actor_type_check check (actor_type in ('user', 'workload', 'client', 'system', 'anonymous')),
      constraint audit_events_action_format check (char_length(action) <= 128 and action ~ '${ACTION}'),
      constraint audit_events_outcome_check check (outcome in ('success', 'failure')),
      constraint audit_events_target_pair check (target_id is null or target_type is not null),
      constraint audit_events_details_object check (jsonb_typeof(details) = 'object'),
      constraint audit_events_hash_length check (octet_length(hash) = 32 and octet_length(prev_hash) = 32)
    );
    comment on table audit_events is 'Append-only authentication and administration audit log, hash-chained per tenant. Ids of actors/targets/tenants are plain columns (no FKs) so events survive deletes. id doubles as the event id consumers dedupe by.';
    create index if not exists audit_events_tenant_time_idx on audit_events (tenant_id, occurred_at) where tenant_id is not null;
    create index if not exists audit_events_time_idx on audit_events (occurred_at);
    create index if not exists audit_events_actor_idx on audit_events (actor_type, actor_id, occurred_at) where actor_id is not null;
    create index if not exists audit_events_target_idx on audit_events (target_type, target_id, occurred_at) where target_id is not null;

    create or replace function iam_audit_digest(prev bytea, e audit_events) returns bytea
    language sql stable parallel safe as $fn$
      select sha256(prev || convert_to(jsonb_build_array(
        e.chain_seq, e.id, to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        e.tenant_id, e.actor_type, e.actor_id, e.action, e.target_type, e.target_id, e.outcome,
        e.ip::text, e.user_agent, e.request_id, e.details)::text, 'UTF8'))
    $fn$;

    create or replace function iam_audit_chain() returns trigger
    language plpgsql as $fn$
    declare
      head audit_chain_heads%rowtype;
    begin
      new.chain_id := coalesce(new.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid);
      insert into audit_chain_heads (chain_id, seq, hash) values (new.chain_id, 0, decode(repeat('00', 32), 'hex'))
        on conflict (chain_id) do nothing;
      -- The row lock serialises the writers of this chain until commit; under REPEATABLE READ a
      -- concurrent writer gets a serialization failure instead of forking the chain.
      select * into strict head from audit_chain_heads where chain_id = new.chain_id for update;
      new.chain_seq := head.seq + 1;
      new.prev_hash := head.hash;
      new.hash := iam_audit_digest(new.prev_hash, new);
      update audit_chain_heads set seq = new.chain_seq, hash = new.hash, updated_at = now() where chain_id = new.chain_id;
      return new;
    end
    $fn$;

    create or replace function iam_audit_append_only() returns trigger
    language plpgsql as $fn$
    begin
      raise exception '% is append-only: % rejected', tg_table_name, tg_op using errcode = 'insufficient_privilege';
    end
    $fn$;

    create or replace trigger audit_events_chain before insert on audit_events
      for each row execute function iam_audit_chain();
    create or replace trigger audit_events_no_update_delete before update or delete on audit_events
      for each row execute function iam_audit_append_only();
    create or replace trigger audit_events_no_truncate before truncate on audit_events
      for each statement execute function iam_audit_append_only();
    create or replace trigger audit_chain_heads_no_delete before delete on audit_chain_heads
      for each row execute function iam_audit_append_only();
    create or replace trigger audit_chain_heads_no_truncate before truncate on audit_chain_heads
      for each statement execute function iam_audit_append_only();
    alter table audit_events enable always trigger audit_events_chain;
    alter table audit_events enable always trigger audit_events_no_update_delete;
    alter table audit_events enable always trigger audit_events_no_truncate;
    alter table audit_chain_heads enable always trigger audit_chain_heads_no_delete;
    alter table audit_chain_heads enable always trigger audit_chain_heads_no_truncate;

    create or replace function iam_audit_verify_chain(p_chain_id uuid)
    returns table (ok boolean, events bigint, broken_seq bigint, problem text)
    language plpgsql stable as $fn$
    declare
      e audit_events%rowtype;
      expected_prev bytea := decode(repeat('00', 32), 'hex');
      expected_seq bigint := 1;
      head audit_chain_heads%rowtype;
    begin
      events := 0;
      for e in select * from audit_events where chain_id = p_chain_id order by chain_seq loop
        if e.chain_seq <> expected_seq then
          return query select false, events, expected_seq, 'missing event (sequence gap)'::text;
          return;
        end if;
        if e.prev_hash <> expected_prev then
          return query select false, events, e.chain_seq, 'prev_hash does not link to the previous event'::text;
          return;
        end if;
        if e.hash <> iam_audit_digest(e.prev_hash, e) then
          return query select false, events, e.chain_seq, 'event content does not match its hash'::text;
          return;
        end if;
        events := events + 1;
        expected_prev := e.hash;
        expected_seq := expected_seq + 1;
      end loop;
      select * into head from audit_chain_heads where chain_id = p_chain_id;
      if found and (head.seq <> events or head.hash <> expected_prev) then
        return query select false, events, events + 1, 'chain head does not match the last event (tail removed)'::text;
        return;
      end if;
      return query select true, events, null::bigint, null::text;
    end
    $fn$;
    comment on function iam_audit_verify_chain(uuid) is 'Recomputes one audit hash chain (tenant id, or the nil UUID for platform events) and reports the first broken link.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  // DROP TABLE is DDL: the append-only triggers do not (and should not) stop a deliberate rollback.
  await knex.raw(`
    drop function if exists iam_audit_verify_chain(uuid);
    drop function if exists iam_audit_digest(bytea, audit_events);
    drop table if exists audit_events;
    drop table if exists audit_chain_heads;
    drop function if exists iam_audit_chain();
    drop function if exists iam_audit_append_only();
  `);
}
