import { createHmac, randomBytes } from 'node:crypto';
import type { Knex } from '../../src/db/knex.ts';

export const newKek = (): Buffer => randomBytes(32);

let seq = 0;
/** Inserts an active user directly (the user service is not this module's concern). */
export async function insertUser(db: Knex, fields: Record<string, unknown> = {}): Promise<string> {
  seq += 1;
  const [row] = await db('users')
    .insert({ email: `user${seq}-${randomBytes(4).toString('hex')}@example.test`, display_name: `User ${seq}`, ...fields })
    .returning('id');
  return row.id as string;
}

/** Every row of every table in the public schema as text: for "this secret is stored nowhere" checks. */
export async function dumpDatabaseText(db: Knex): Promise<string> {
  const { rows } = await db.raw<{ rows: { tablename: string }[] }>(`select tablename from pg_tables where schemaname = 'public'`);
  const parts: string[] = [];
  for (const { tablename } of rows) {
    const dump = await db.raw<{ rows: { t: string }[] }>('select t::text as t from ?? t', [tablename]);
    for (const r of dump.rows) parts.push(r.t);
  }
  return parts.join('\n');
}

/** Hex spellings of bytea columns, so a raw secret is also caught as `\x…`. */
export function spellings(secret: Buffer | string): string[] {
  const b = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8');
  return [b.toString('hex'), b.toString('base64'), b.toString('base64url'), ...(Buffer.isBuffer(secret) ? [] : [secret])];
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function fromBase32(s: string): Buffer {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of s.replace(/=+$/, '')) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new Error(`bad base32 ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** An independent RFC 6238 implementation (HMAC-SHA1, dynamic truncation), to check the module against. */
export function totpAt(secret: Buffer, epochSeconds: number, digits = 6, period = 30): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(epochSeconds / period)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

export async function auditRows(
  db: Knex,
  action: string,
): Promise<{ outcome: string; actor_id: string | null; target_id: string | null; details: Record<string, unknown> }[]> {
  return db('audit_events').where({ action }).orderBy('chain_seq').select('outcome', 'actor_id', 'target_id', 'details');
}
