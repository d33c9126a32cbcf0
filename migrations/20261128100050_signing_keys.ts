import type { Knex } from 'knex';

// Issuer signing keys (ADR-0004). Timestamps are written by the application clock so the
// rotation schedule is testable; the CHECKs keep each state's required timestamps present.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table signing_keys (
      id uuid primary key default uuidv7(),
      kid text not null unique,
      purpose text not null check (purpose in ('access', 'refresh')),
      alg text not null check (alg <> ''),
      state text not null check (state in ('pending', 'active', 'retired', 'removed', 'revoked')),
      public_jwk jsonb not null,
      -- null for keys held by an external KMS/HSM, and once a key is removed or revoked
      private_key_envelope jsonb,
      signer text not null default 'local',
      created_at timestamptz not null default now(),
      activates_at timestamptz not null,
      activated_at timestamptz,
      retired_at timestamptz,
      remove_after timestamptz,
      removed_at timestamptz,
      revoked_at timestamptz,
      revoke_reason text,
      constraint signing_keys_active_has_time check (state <> 'active' or activated_at is not null),
      constraint signing_keys_retired_has_times check (state <> 'retired' or (retired_at is not null and remove_after is not null)),
      constraint signing_keys_removed_has_time check (state <> 'removed' or removed_at is not null),
      constraint signing_keys_revoked_has_reason check (state <> 'revoked' or (revoked_at is not null and revoke_reason is not null)),
      constraint signing_keys_no_dead_private check (state not in ('removed', 'revoked') or private_key_envelope is null),
      constraint signing_keys_local_has_private check (
        signer <> 'local' or state in ('removed', 'revoked') or private_key_envelope is not null
      )
    )
  `);
  await knex.raw('create index signing_keys_purpose_state on signing_keys (purpose, state)');
  // One signing key per purpose, and at most one waiting to take over (rotations are idempotent).
  await knex.raw(`create unique index signing_keys_one_active on signing_keys (purpose) where state = 'active'`);
  await knex.raw(`create unique index signing_keys_one_pending on signing_keys (purpose) where state = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists signing_keys');
}
