import type { Knex } from 'knex';
import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import { AppError } from '../errors/index.ts';
import type { AccountContext } from './context.ts';
import { UUID } from './context.ts';

/**
 * The signed-in user's own profile: the names the ID token's `profile` scope releases. Not a
 * sensitive change (no recent sign-in needed): it grants nothing and unlocks nothing.
 */
export interface AccountProfile {
  id: string;
  email: string | null;
  emailVerified: boolean;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  hasPassword: boolean;
  createdAt: Date;
}

// Control, format (zero-width, bidi override) and line/paragraph separators: never part of a name.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

const nameField = (max: number) =>
  z
    .string()
    .transform((v) => v.normalize('NFC').replace(/\s+/g, ' ').trim())
    .refine((v) => !UNPRINTABLE.test(v), 'unprintable')
    .refine((v) => [...v].length <= max, 'too_long')
    .transform((v) => (v === '' ? null : v));

/** The profile form: every field optional text (empty clears it). */
export const profileInput = z.object({
  display_name: nameField(200),
  given_name: nameField(100),
  family_name: nameField(100),
});
export type ProfileInput = z.input<typeof profileInput>;

export async function getAccountProfile(db: Knex | Knex.Transaction, userId: string): Promise<AccountProfile> {
  const row = UUID.test(userId)
    ? await db('users as u')
        .where({ 'u.id': userId, 'u.status': 'active' })
        .whereNull('u.deleted_at')
        .first(
          'u.id',
          'u.email',
          'u.email_verified_at',
          'u.display_name',
          'u.given_name',
          'u.family_name',
          'u.created_at',
          db.raw('exists (select 1 from password_credentials pc where pc.user_id = u.id) as has_password'),
        )
    : undefined;
  if (!row) throw new AppError('not_found', { detail: 'no such active user' });
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified_at !== null,
    displayName: row.display_name,
    givenName: row.given_name,
    familyName: row.family_name,
    hasPassword: Boolean(row.has_password),
    createdAt: row.created_at,
  };
}

/**
 * Saves the profile form; returns the names of the fields that changed (none: nothing written).
 * Throws `validation_failed` naming each refused field. Audited as `user.profile_updated` with the
 * field names only (the values are personal data).
 */
export async function updateAccountProfile(db: Knex, userId: string, input: unknown, ctx: AccountContext = {}): Promise<string[]> {
  const parsed = profileInput.safeParse(input);
  if (!parsed.success) {
    throw new AppError('validation_failed', {
      detail: 'the profile does not match its rules',
      invalidParams: parsed.error.issues.map((i) => ({ name: String(i.path[0] ?? ''), reason: i.message })),
    });
  }
  const values = parsed.data;
  return db.transaction(async (trx) => {
    const current = await trx('users')
      .where({ id: userId, status: 'active' })
      .whereNull('deleted_at')
      .forNoKeyUpdate()
      .first('display_name', 'given_name', 'family_name');
    if (!current) throw new AppError('not_found', { detail: 'no such active user' });
    const changed = (Object.keys(values) as (keyof typeof values)[]).filter((k) => current[k] !== values[k]);
    if (changed.length === 0) return [];
    await trx('users')
      .where({ id: userId })
      .update(Object.fromEntries(changed.map((k) => [k, values[k]])));
    await recordAudit(trx, {
      action: 'user.profile_updated',
      actor: { type: 'user', id: userId },
      target: { type: 'user', id: userId },
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      requestId: ctx.requestId,
      details: { changed },
    });
    return changed;
  });
}
