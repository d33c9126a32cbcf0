import type { Knex } from 'knex';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import { revokeUserGrants, tenantGrantsOf } from '../tokens/index.ts';
import { auditActor, type Caller } from './actor.ts';
import { enterTenant, keepingAnOwner, requireAuthorityOver, requirePermission } from './authority.ts';
import { checkIfMatch, etagOf } from './etag.ts';
import { decodeCursor, type Page, pageQuery, toPage } from './pagination.ts';
import { recordChange } from './record.ts';

/** What ending a membership needs to know to end the member's tokens in the tenant. */
export interface MemberTokens {
  /** The longest access token lifetime: how long the revocation records must live. */
  maxAccessTokenTtlS: number;
}

/**
 * Ends the tokens that speak for the user in the tenant (ADR-0021): every grant whose tokens carry
 * `tid` = the tenant is revoked in the caller's transaction. Returns how many.
 */
async function endTenantTokens(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  userId: string,
  tokens: MemberTokens,
  reason: 'admin' | 'logout',
): Promise<number> {
  const grants = await tenantGrantsOf(trx, tenantId, userId);
  await revokeUserGrants(trx, userId, grants, {
    reason,
    meta: { actor: auditActor(caller.actor), ...caller.meta },
    maxAccessTokenTtlS: tokens.maxAccessTokenTtlS,
  });
  return grants.length;
}

/**
 * Tenant membership. A suspended member keeps its bindings but holds no permission (the check
 * engine treats the membership as inactive); removal deletes the membership with every binding
 * and override of the user in the tenant and revokes delegations to or from it. Suspension,
 * removal and leaving also revoke the user's grants for the tenant, so its access tokens stop at
 * introspection and IAM's APIs and its refresh tokens are gone; reactivation does not bring them
 * back (the member signs in again). Changing a
 * member needs `iam.members.manage` and every permission the member holds (no escalation: an
 * admin cannot remove an owner), and no change may leave the tenant without an active owner.
 */

export const listMembersQuery = z.object({ ...pageQuery, status: z.enum(['active', 'suspended']).optional() }).strict();

export interface MemberView {
  user_id: string;
  email: string | null;
  display_name: string | null;
  status: 'active' | 'suspended' | 'invited';
  /** Keys of the roles bound on the whole tenant (team and project bindings: see /bindings). */
  roles: string[];
  joined_at: Date | null;
  suspended_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const MEMBER_SQL = `
  select m.id, m.user_id, u.email, u.display_name, m.status,
         coalesce(array(select distinct r.key from scope_bindings b
                          join roles r on r.tenant_id = b.tenant_id and r.id = b.role_id
                         where b.tenant_id = m.tenant_id and b.principal_type = 'user' and b.principal_id = m.user_id
                           and b.scope_type = 'tenant' and (b.expires_at is null or b.expires_at > now())
                         order by r.key), '{}') as roles,
         m.joined_at, m.suspended_at, m.created_at, m.updated_at
    from memberships m join users u on u.id = m.user_id
   where m.tenant_id = ?`;

type MemberRow = MemberView & { id: string };

const toView = ({ id: _id, ...view }: MemberRow): MemberView => view;

export const memberEtag = (m: MemberView) => etagOf(m);

async function loadMember(trx: Knex.Transaction, tenantId: string, userId: string): Promise<MemberView> {
  const { rows } = (await trx.raw(`${MEMBER_SQL} and m.user_id = ?`, [tenantId, userId])) as { rows: MemberRow[] };
  if (!rows[0]) throw new AppError('not_found', { detail: 'no such member' });
  return toView(rows[0]);
}

export async function listMembers(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  query: z.infer<typeof listMembersQuery>,
): Promise<Page<MemberView>> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.read');
  const after = decodeCursor(query.cursor);
  const params: Knex.RawBinding[] = [tenantId];
  let sql = MEMBER_SQL;
  if (query.status) {
    sql += ' and m.status = ?';
    params.push(query.status);
  }
  if (after) {
    sql += ' and m.id > ?';
    params.push(after);
  }
  const { rows } = (await trx.raw(`${sql} order by m.id limit ?`, [...params, query.limit + 1])) as { rows: MemberRow[] };
  return toPage(rows, query.limit, toView);
}

export async function getMember(trx: Knex.Transaction, caller: Caller, tenantId: string, userId: string): Promise<MemberView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.read');
  return loadMember(trx, tenantId, userId);
}

async function lockMember(trx: Knex.Transaction, tenantId: string, userId: string, ifMatch: string | undefined): Promise<MemberView> {
  await trx('memberships').where({ tenant_id: tenantId, user_id: userId }).forUpdate().first('id');
  const member = await loadMember(trx, tenantId, userId);
  checkIfMatch(ifMatch, memberEtag(member), false);
  return member;
}

export async function suspendMember(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  userId: string,
  ifMatch: string | undefined,
  tokens: MemberTokens,
): Promise<MemberView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.manage');
  const member = await lockMember(trx, tenantId, userId, ifMatch);
  if (member.status !== 'active') throw new AppError('conflict', { detail: `the membership is ${member.status}` });
  await requireAuthorityOver(trx, access, { type: 'user', id: userId });
  await keepingAnOwner(trx, tenantId, () =>
    trx('memberships').where({ tenant_id: tenantId, user_id: userId }).update({ status: 'suspended', suspended_at: trx.fn.now() }),
  );
  const grantsRevoked = await endTenantTokens(trx, caller, tenantId, userId, tokens, 'admin');
  await recordChange(trx, caller, {
    action: 'membership.suspended',
    tenantId,
    target: { type: 'user', id: userId },
    details: { grants_revoked: grantsRevoked },
    event: { data: { tenant_id: tenantId, user_id: userId } },
  });
  return loadMember(trx, tenantId, userId);
}

export async function reactivateMember(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  userId: string,
  ifMatch?: string,
): Promise<MemberView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.manage');
  const member = await lockMember(trx, tenantId, userId, ifMatch);
  if (member.status !== 'suspended') throw new AppError('conflict', { detail: `the membership is ${member.status}` });
  // Reactivation gives the member's permissions back: the same authority as granting them.
  await requireAuthorityOver(trx, access, { type: 'user', id: userId });
  await trx('memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .update({ status: 'active', suspended_at: null, joined_at: trx.raw('coalesce(joined_at, now())') });
  await recordChange(trx, caller, {
    action: 'membership.resumed',
    tenantId,
    target: { type: 'user', id: userId },
    event: { data: { tenant_id: tenantId, user_id: userId } },
  });
  return loadMember(trx, tenantId, userId);
}

async function removeMembership(trx: Knex.Transaction, tenantId: string, userId: string): Promise<{ bindings: number; overrides: number }> {
  const bindings = await trx('scope_bindings').where({ tenant_id: tenantId, principal_type: 'user', principal_id: userId }).delete();
  const overrides = await trx('permission_overrides').where({ tenant_id: tenantId, principal_type: 'user', principal_id: userId }).delete();
  await trx('delegations')
    .where({ tenant_id: tenantId })
    .whereNull('revoked_at')
    .andWhere((q) =>
      q.where({ delegate_type: 'user', delegate_id: userId }).orWhere((q2) => q2.where({ delegator_type: 'user', delegator_id: userId })),
    )
    .update({ revoked_at: trx.fn.now() });
  await trx('memberships').where({ tenant_id: tenantId, user_id: userId }).delete();
  return { bindings, overrides };
}

export async function removeMember(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  userId: string,
  ifMatch: string | undefined,
  tokens: MemberTokens,
): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.manage');
  await lockMember(trx, tenantId, userId, ifMatch);
  await requireAuthorityOver(trx, access, { type: 'user', id: userId });
  const removed = await keepingAnOwner(trx, tenantId, () => removeMembership(trx, tenantId, userId));
  const grantsRevoked = await endTenantTokens(trx, caller, tenantId, userId, tokens, 'admin');
  await recordChange(trx, caller, {
    action: 'membership.removed',
    tenantId,
    target: { type: 'user', id: userId },
    details: { reason: 'removed', bindings_removed: removed.bindings, overrides_removed: removed.overrides, grants_revoked: grantsRevoked },
    event: { data: { tenant_id: tenantId, user_id: userId } },
  });
}

/** A user leaves a tenant: no permission needed, but the last owner cannot leave. */
export async function leaveTenant(trx: Knex.Transaction, caller: Caller, tenantId: string, tokens: MemberTokens): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  if (access.principal?.type !== 'user') throw new AppError('forbidden', { detail: 'only a user can leave a tenant' });
  const userId = access.principal.id;
  await lockMember(trx, tenantId, userId, undefined);
  const removed = await keepingAnOwner(trx, tenantId, () => removeMembership(trx, tenantId, userId));
  const grantsRevoked = await endTenantTokens(trx, caller, tenantId, userId, tokens, 'logout');
  await recordChange(trx, caller, {
    action: 'membership.removed',
    tenantId,
    target: { type: 'user', id: userId },
    details: { reason: 'left', bindings_removed: removed.bindings, overrides_removed: removed.overrides, grants_revoked: grantsRevoked },
    event: { data: { tenant_id: tenantId, user_id: userId } },
  });
}
