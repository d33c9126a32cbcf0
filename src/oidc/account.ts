import type { Account } from 'oidc-provider';
import type { Knex } from '../db/knex.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const minimal = (sub: string): Account => ({
  accountId: sub,
  async claims() {
    return { sub };
  },
});

/**
 * The engine's `findAccount` (called on every code and refresh grant, and at userinfo): the
 * subject must still be an active user or an active workload identity, so a disabled or deleted
 * principal can no longer refresh. It returns the minimal account (`sub` only); user profile
 * claims arrive with sign-in (P3). Unknown subjects are `undefined`, which the engine turns into
 * `invalid_grant`. Reads only — two indexed lookups at most.
 */
export function createFindAccount(db: Knex) {
  return async (_ctx: unknown, sub: string): Promise<Account | undefined> => {
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255 || sub.includes('\u0000')) return undefined;
    if (UUID.test(sub)) {
      const user = await db('users').where({ id: sub, status: 'active' }).first('id');
      if (user) return minimal(sub);
    }
    const workload = await db('workload_identities').where({ sub, status: 'active' }).first('id');
    return workload ? minimal(sub) : undefined;
  };
}
