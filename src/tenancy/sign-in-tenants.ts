import type { Knex } from 'knex';
import { isUuid } from './actor.ts';
import { settingsFromStored } from './tenant-settings.ts';
import { tenantSlug } from './tenants.ts';

/**
 * Which tenant a user may act in after signing in (issue 5 item 2): the tenants of the user's
 * active memberships in active tenants. Read-only; joining by verified domain is
 * `joinByVerifiedDomain`, accepting an invitation `acceptInvitation`.
 */

export interface SignInTenant {
  id: string;
  slug: string;
  name: string;
}

/**
 * What the user may do with one named tenant at sign-in:
 * - `member`: an active membership of an active tenant — it can be selected;
 * - `joinable`: no membership, but the tenant lets users join by their verified email domain
 *   and the user's verified address is at one of its verified domains;
 * - `membership_suspended` / `tenant_suspended`: a member, but not now;
 * - `unavailable`: anything else — not a member, no such tenant, a deleted one. One answer, so
 *   a sign-in request naming tenants reveals nothing about tenants the user does not belong to.
 */
export type SignInTenantAccess =
  | { kind: 'member' | 'joinable' | 'membership_suspended' | 'tenant_suspended'; tenant: SignInTenant }
  | { kind: 'unavailable' };

/** A tenant reference as a sign-in request may carry it: a tenant id or a slug. */
export function isTenantRef(value: unknown): value is string {
  return typeof value === 'string' && (isUuid(value) || tenantSlug.safeParse(value).success);
}

export async function signInTenantAccess(db: Knex | Knex.Transaction, userId: string, ref: string): Promise<SignInTenantAccess> {
  if (!isUuid(userId) || !isTenantRef(ref)) return { kind: 'unavailable' };
  const row = (await db('tenants as t')
    .leftJoin('memberships as m', function () {
      this.on('m.tenant_id', '=', 't.id').andOn('m.user_id', '=', db.raw('?::uuid', [userId]));
    })
    .where(isUuid(ref) ? { 't.id': ref } : { 't.slug': ref })
    .whereNot('t.status', 'deleted')
    .first('t.id', 't.slug', 't.name', 't.status', 't.settings', 'm.status as membership')) as
    | (SignInTenant & { status: string; settings: unknown; membership: string | null })
    | undefined;
  if (!row) return { kind: 'unavailable' };
  const tenant: SignInTenant = { id: row.id, slug: row.slug, name: row.name };
  if (row.membership) {
    if (row.status !== 'active') return { kind: 'tenant_suspended', tenant };
    return { kind: row.membership === 'active' ? 'member' : 'membership_suspended', tenant };
  }
  if (row.status !== 'active' || !settingsFromStored(row.settings).join_by_verified_domain) return { kind: 'unavailable' };
  return (await verifiedDomainQualifies(db, userId, tenant.id)) ? { kind: 'joinable', tenant } : { kind: 'unavailable' };
}

/** The user's verified address is at a domain the tenant verified (the rule of `joinByVerifiedDomain`). */
async function verifiedDomainQualifies(db: Knex | Knex.Transaction, userId: string, tenantId: string): Promise<boolean> {
  const user = await db('users').where({ id: userId, status: 'active' }).whereNull('deleted_at').first('email', 'email_verified_at');
  const domain = user?.email && user.email_verified_at ? String(user.email).toLowerCase().split('@')[1] : undefined;
  if (!domain) return false;
  return Boolean(await db('tenant_domains').where({ tenant_id: tenantId, domain }).whereNotNull('verified_at').first('domain'));
}

/** The tenants the user can act in now (active membership, active tenant), by name. */
export async function selectableTenants(db: Knex | Knex.Transaction, userId: string): Promise<SignInTenant[]> {
  if (!isUuid(userId)) return [];
  return (await db('memberships as m')
    .join('tenants as t', 't.id', 'm.tenant_id')
    .where({ 'm.user_id': userId, 'm.status': 'active', 't.status': 'active' })
    .orderBy([{ column: 't.name' }, { column: 't.id' }])
    .limit(200)
    .select('t.id', 't.slug', 't.name')) as SignInTenant[];
}

/** Is the user, right now, an active member of this active tenant? */
export async function isActiveMember(db: Knex | Knex.Transaction, userId: string, tenantId: string): Promise<boolean> {
  if (!isUuid(userId) || !isUuid(tenantId)) return false;
  const row = await db('memberships as m')
    .join('tenants as t', 't.id', 'm.tenant_id')
    .where({ 'm.user_id': userId, 'm.tenant_id': tenantId, 'm.status': 'active', 't.status': 'active' })
    .first('m.id');
  return Boolean(row);
}
