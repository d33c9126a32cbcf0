import type { Knex } from 'knex';

/**
 * UUIDv7 primary keys everywhere (ADR: schema conventions). PostgreSQL 18 ships `uuidv7()`;
 * on 15–17 we install a compatible `public.uuidv7()` and mark it with a comment so that
 * down() removes only a function this migration created — never the native one, never a
 * function of the same name that someone else installed.
 *
 * Layout (RFC 9562 §5.7): 48-bit big-endian Unix milliseconds, version 7, 12 bits of
 * sub-millisecond clock fraction (RFC 9562 §6.2 method 3, as PostgreSQL 18 does, so that
 * values from one backend sort in creation order), variant 0b10, 62 random bits.
 */
export const config = { transaction: true };

export const POLYFILL_MARK = 'infranotes-iam: uuidv7() polyfill for PostgreSQL < 18 (migration 20261128100000_uuidv7)';

export async function up(knex: Knex): Promise<void> {
  const { rows } = await knex.raw<{ rows: { present: boolean }[] }>(`select to_regprocedure('uuidv7()') is not null as present`);
  if (rows[0]?.present) return; // PostgreSQL 18+ (or already installed): nothing to do.

  await knex.raw(`
    create function public.uuidv7() returns uuid
    language plpgsql volatile parallel safe
    as $fn$
    declare
      -- clock_timestamp() has microsecond resolution; extract(epoch ...) is exact numeric.
      us bigint := floor(extract(epoch from clock_timestamp()) * 1000000)::bigint;
      ms bigint := us / 1000;
      frac int := ((us % 1000) * 4096 / 1000)::int;   -- 12-bit sub-millisecond fraction
      b bytea := uuid_send(gen_random_uuid());        -- 122 random bits, variant already 0b10
    begin
      b := overlay(b placing substring(int8send(ms) from 3 for 6) from 1 for 6);
      b := set_byte(b, 6, 112 | (frac >> 8));         -- 0x70: version 7 in the high nibble
      b := set_byte(b, 7, frac & 255);
      return encode(b, 'hex')::uuid;
    end
    $fn$
  `);
  await knex.raw(`comment on function public.uuidv7() is '${POLYFILL_MARK}'`);
}

export async function down(knex: Knex): Promise<void> {
  const { rows } = await knex.raw<{ rows: { mark: string | null }[] }>(
    `select obj_description(to_regprocedure('public.uuidv7()'), 'pg_proc') as mark`,
  );
  // No cascade: if something outside our schema still uses it, failing loudly is right.
  if (rows[0]?.mark === POLYFILL_MARK) await knex.raw('drop function public.uuidv7()');
}
