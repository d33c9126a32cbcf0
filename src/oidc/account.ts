import type { Account, AccountClaims } from 'oidc-provider';
import type { Knex } from '../db/knex.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const minimal = (sub: string): Account => ({
  accountId: sub,
  async claims() {
    return { sub };
  },
});

interface UserRow {
  id: string;
  email: string | null;
  email_verified_at: Date | null;
  display_name: string | null;
  given_name: string | null;
  family_name: string | null;
  locale: string | null;
  picture_url: string | null;
  updated_at: Date | null;
}

const USER_COLUMNS = [
  'id',
  'email',
  'email_verified_at',
  'display_name',
  'given_name',
  'family_name',
  'locale',
  'picture_url',
  'updated_at',
] as const;

/**
 * The OpenID Connect claims of a user. All of them are offered; the engine releases each only
 * for its scope (`email` → email, email_verified; `profile` → name, given_name, …) and, for ID
 * tokens, as its `conformIdTokenClaims` rule says. Absent values are left out, never `null`.
 */
export function userClaims(u: UserRow): AccountClaims {
  const claims: AccountClaims = { sub: u.id };
  if (u.email) {
    claims.email = u.email;
    claims.email_verified = u.email_verified_at !== null;
  }
  if (u.display_name) claims.name = u.display_name;
  if (u.given_name) claims.given_name = u.given_name;
  if (u.family_name) claims.family_name = u.family_name;
  if (u.locale) claims.locale = u.locale;
  if (u.picture_url) claims.picture = u.picture_url;
  if (u.updated_at) claims.updated_at = Math.floor(new Date(u.updated_at).getTime() / 1000);
  return claims;
}

/**
 * The engine's `findAccount` (called when a sign-in resumes, on every code and refresh grant,
 * and at userinfo): the subject must still be an active user or an active workload identity, so
 * a disabled or deleted principal can no longer sign in, refresh or read userinfo. Users get
 * their profile claims (one indexed read, the row closed over for `claims()`); workloads only
 * `sub`. Unknown subjects are `undefined`, which the engine turns into `invalid_grant` (and the
 * login policy into a new sign-in: `account_unavailable`).
 */
export function createFindAccount(db: Knex) {
  return async (_ctx: unknown, sub: string): Promise<Account | undefined> => {
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255 || sub.includes('\u0000')) return undefined;
    if (UUID.test(sub)) {
      const user = (await db('users')
        .where({ id: sub, status: 'active' })
        .whereNull('deleted_at')
        .first(...USER_COLUMNS)) as UserRow | undefined;
      if (user) {
        const claims = userClaims(user);
        return { accountId: user.id, claims: async () => ({ ...claims }) };
      }
    }
    const workload = await db('workload_identities').where({ sub, status: 'active' }).first('id');
    return workload ? minimal(sub) : undefined;
  };
}
