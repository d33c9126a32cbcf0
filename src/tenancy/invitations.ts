import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import type { Mailer } from '../mail/index.ts';
import { renderMail } from '../mail/render.ts';
import { actorUserId, type Caller, isUuid } from './actor.ts';
import { authorizeBindingChange, enterTenant, requirePermission, type TenantAccess } from './authority.ts';
import { isUniqueViolation } from './db-errors.ts';
import { decodeCursor, type Page, pageQuery, toPage } from './pagination.ts';
import { recordChange } from './record.ts';
import { loadRole, type RoleView } from './roles.ts';
import { lockTenantRevision } from './write.ts';

/**
 * Invitations by email. The emailed token (256 random bits) is stored as its SHA-256 only; a
 * resend replaces it, so only the newest link works. Inviting with roles is granting them at
 * acceptance, so it needs the same authority as binding them on the whole tenant (own
 * permissions or a delegation) — checked again on resend. Acceptance is one atomic UPDATE
 * (`accepted_at is null and revoked_at is null and expires_at > now()` and the address
 * matching the accepting user's verified one) plus the membership and bindings, in one
 * transaction: of any number of parallel acceptances exactly one succeeds.
 */

export interface InvitationMail {
  mailer: Mailer;
  issuer: string;
  productName: string;
  ttlSeconds: number;
}

export const createInvitationInput = z
  .object({
    email: z.email().max(320),
    /** Roles bound on the whole tenant at acceptance; omitted = the `member` role. */
    roles: z
      .array(z.uuid())
      .max(20)
      .refine((r) => new Set(r).size === r.length, 'roles must not repeat')
      .optional(),
  })
  .strict();
export type CreateInvitationInput = z.infer<typeof createInvitationInput>;

export const listInvitationsQuery = z
  .object({ ...pageQuery, status: z.enum(['pending', 'accepted', 'revoked', 'expired']).optional() })
  .strict();

export const acceptInvitationInput = z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not an invitation token') }).strict();

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

export interface InvitationView {
  id: string;
  email: string;
  status: InvitationStatus;
  roles: { id: string; key: string }[];
  invited_by: string | null;
  created_at: Date;
  expires_at: Date;
  last_sent_at: Date | null;
  send_count: number;
  accepted_at: Date | null;
  accepted_by: string | null;
  revoked_at: Date | null;
}

const INVITATION_SQL = `
  select i.id, i.email,
         case when i.accepted_at is not null then 'accepted' when i.revoked_at is not null then 'revoked'
              when i.expires_at <= now() then 'expired' else 'pending' end as status,
         coalesce((select json_agg(json_build_object('id', r.id, 'key', r.key) order by r.key)
                     from invitation_roles ir join roles r on r.tenant_id = ir.tenant_id and r.id = ir.role_id
                    where ir.tenant_id = i.tenant_id and ir.invitation_id = i.id), '[]'::json) as roles,
         i.invited_by, i.created_at, i.expires_at, i.last_sent_at, i.send_count, i.accepted_at, i.accepted_by, i.revoked_at
    from invitations i
   where i.tenant_id = ?`;

const STATUS_SQL: Record<InvitationStatus, string> = {
  pending: 'i.accepted_at is null and i.revoked_at is null and i.expires_at > now()',
  accepted: 'i.accepted_at is not null',
  revoked: 'i.revoked_at is not null',
  expired: 'i.accepted_at is null and i.revoked_at is null and i.expires_at <= now()',
};

const hashToken = (token: string) => createHash('sha256').update(token).digest();

async function loadInvitation(trx: Knex.Transaction, tenantId: string, id: string): Promise<InvitationView> {
  const { rows } = (await trx.raw(`${INVITATION_SQL} and i.id = ?`, [tenantId, id])) as { rows: InvitationView[] };
  if (!rows[0]) throw new AppError('not_found', { detail: 'no such invitation' });
  return rows[0];
}

async function invitationRoles(trx: Knex.Transaction, tenantId: string, roleIds: readonly string[] | undefined): Promise<RoleView[]> {
  if (roleIds) return Promise.all(roleIds.map((id) => loadRole(trx, tenantId, id)));
  const member = await trx('roles').where({ tenant_id: tenantId, key: 'member', is_system: true }).first('id');
  return member ? [await loadRole(trx, tenantId, member.id as string)] : [];
}

async function authorizeRoles(trx: Knex.Transaction, access: TenantAccess, roles: RoleView[]): Promise<void> {
  for (const role of roles) await authorizeBindingChange(trx, access, role, { type: 'tenant', id: access.tenantId });
}

async function sendInvitation(
  trx: Knex.Transaction,
  mail: InvitationMail,
  to: string,
  token: string,
  tenantId: string,
  inviterId: string | null,
): Promise<void> {
  const tenant = await trx('tenants').where({ id: tenantId }).first('name');
  const inviter = inviterId ? await trx('users').where({ id: inviterId }).first('display_name') : undefined;
  const rendered = renderMail(
    'invitation',
    {
      token,
      expiresInMinutes: Math.max(1, Math.floor(mail.ttlSeconds / 60)),
      tenantName: tenant?.name ?? '',
      inviterName: inviter?.display_name ?? null,
    },
    { issuer: mail.issuer, productName: mail.productName },
  );
  // Sent before commit on purpose: a mail that cannot be sent rolls the invitation back, so no
  // invitation exists whose link nobody received; the rare commit failure after a sent mail
  // leaves a link that answers "not valid".
  try {
    await mail.mailer.send({ to, ...rendered });
  } catch (err) {
    throw new AppError('unavailable', { detail: 'the invitation mail could not be sent', cause: err });
  }
}

export async function createInvitation(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: CreateInvitationInput,
  mail: InvitationMail,
): Promise<InvitationView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.invitations.manage');
  const roles = await invitationRoles(trx, tenantId, input.roles);
  await authorizeRoles(trx, access, roles);
  const email = input.email.trim();
  const member = await trx('memberships as m')
    .join('users as u', 'u.id', 'm.user_id')
    .where('m.tenant_id', tenantId)
    .whereRaw('lower(u.email) = lower(?)', [email])
    .whereNull('u.deleted_at')
    .first('m.id');
  if (member)
    throw new AppError('conflict', { detail: 'this address already belongs to a member', extensions: { reason: 'already_member' } });
  // An expired invitation to the same address no longer blocks a new one.
  await trx('invitations')
    .where({ tenant_id: tenantId })
    .whereRaw('lower(email) = lower(?)', [email])
    .whereNull('accepted_at')
    .whereNull('revoked_at')
    .andWhere('expires_at', '<=', trx.fn.now())
    .update({ revoked_at: trx.fn.now() });
  const token = randomBytes(32).toString('base64url');
  const invitedBy = actorUserId(caller.actor);
  let id: string;
  try {
    const [row] = await trx('invitations')
      .insert({
        tenant_id: tenantId,
        email,
        token_hash: hashToken(token),
        invited_by: invitedBy,
        expires_at: trx.raw(`now() + make_interval(secs => ?)`, [mail.ttlSeconds]),
        last_sent_at: trx.fn.now(),
      })
      .returning('id');
    id = (row as { id: string }).id;
  } catch (err) {
    if (isUniqueViolation(err, 'invitations_pending_email_key')) {
      throw new AppError('conflict', {
        detail: 'a pending invitation to this address exists; resend or revoke it',
        extensions: { reason: 'invitation_pending' },
      });
    }
    throw err;
  }
  if (roles.length) await trx('invitation_roles').insert(roles.map((r) => ({ tenant_id: tenantId, invitation_id: id, role_id: r.id })));
  const view = await loadInvitation(trx, tenantId, id);
  await recordChange(trx, caller, {
    action: 'invitation.created',
    tenantId,
    target: { type: 'invitation', id },
    details: { email, roles: roles.map((r) => r.key) },
    event: { data: { tenant_id: tenantId, invitation_id: id, roles: roles.map((r) => r.key), expires_at: view.expires_at } },
  });
  await sendInvitation(trx, mail, email, token, tenantId, invitedBy);
  return view;
}

export async function listInvitations(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  query: z.infer<typeof listInvitationsQuery>,
): Promise<Page<InvitationView>> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.read');
  const after = decodeCursor(query.cursor);
  const params: Knex.RawBinding[] = [tenantId];
  let sql = INVITATION_SQL;
  if (query.status) sql += ` and ${STATUS_SQL[query.status]}`;
  if (after) {
    sql += ' and i.id > ?';
    params.push(after);
  }
  const { rows } = (await trx.raw(`${sql} order by i.id limit ?`, [...params, query.limit + 1])) as { rows: InvitationView[] };
  return toPage(rows, query.limit, (r) => r);
}

export async function getInvitation(trx: Knex.Transaction, caller: Caller, tenantId: string, id: string): Promise<InvitationView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.members.read');
  return loadInvitation(trx, tenantId, id);
}

async function lockOpenInvitation(trx: Knex.Transaction, tenantId: string, id: string): Promise<InvitationView> {
  await trx('invitations').where({ tenant_id: tenantId, id }).forUpdate().first('id');
  const invitation = await loadInvitation(trx, tenantId, id);
  if (invitation.status === 'accepted' || invitation.status === 'revoked') {
    throw new AppError('conflict', {
      detail: `the invitation is ${invitation.status}`,
      extensions: { reason: `invitation_${invitation.status}` },
    });
  }
  return invitation;
}

/** A new link with a fresh lifetime; the previous link stops working at once. */
export async function resendInvitation(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  id: string,
  mail: InvitationMail,
): Promise<InvitationView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.invitations.manage');
  const invitation = await lockOpenInvitation(trx, tenantId, id);
  await authorizeRoles(trx, access, await Promise.all(invitation.roles.map((r) => loadRole(trx, tenantId, r.id))));
  const token = randomBytes(32).toString('base64url');
  await trx('invitations')
    .where({ tenant_id: tenantId, id })
    .update({
      token_hash: hashToken(token),
      expires_at: trx.raw(`greatest(now() + make_interval(secs => ?), created_at + interval '1 second')`, [mail.ttlSeconds]),
      last_sent_at: trx.fn.now(),
      send_count: trx.raw('send_count + 1'),
    });
  const view = await loadInvitation(trx, tenantId, id);
  await recordChange(trx, caller, {
    action: 'invitation.resent',
    tenantId,
    target: { type: 'invitation', id },
    details: { send_count: view.send_count },
    event: { data: { tenant_id: tenantId, invitation_id: id, expires_at: view.expires_at } },
  });
  await sendInvitation(trx, mail, view.email, token, tenantId, actorUserId(caller.actor));
  return view;
}

export async function revokeInvitation(trx: Knex.Transaction, caller: Caller, tenantId: string, id: string): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.invitations.manage');
  await lockOpenInvitation(trx, tenantId, id);
  await trx('invitations')
    .where({ tenant_id: tenantId, id })
    .update({ revoked_at: trx.fn.now(), revoked_by: actorUserId(caller.actor) });
  await recordChange(trx, caller, {
    action: 'invitation.revoked',
    tenantId,
    target: { type: 'invitation', id },
    event: { data: { tenant_id: tenantId, invitation_id: id } },
  });
}

/** What the invitation landing page shows about an emailed link (nothing is consumed). */
export interface InvitationPreview {
  tenant: { id: string; name: string };
  email: string;
  inviter: string | null;
  status: InvitationStatus;
  expires_at: Date;
}

/**
 * The invitation an emailed token belongs to, for its landing page; undefined for a link that is
 * not (or no longer, after a resend) valid and for a deleted tenant. A suspended tenant's
 * invitation is shown; accepting it then fails with the reason.
 */
export async function previewInvitation(db: Knex, token: string): Promise<InvitationPreview | undefined> {
  if (!acceptInvitationInput.shape.token.safeParse(token).success) return undefined;
  const row = await db('invitations as i')
    .join('tenants as t', 't.id', 'i.tenant_id')
    .leftJoin('users as u', 'u.id', 'i.invited_by')
    .where('i.token_hash', hashToken(token))
    .whereNot('t.status', 'deleted')
    .first(
      't.id as tenant_id',
      't.name as tenant_name',
      'i.email',
      'i.expires_at',
      'u.display_name as inviter',
      db.raw(`case when i.accepted_at is not null then 'accepted' when i.revoked_at is not null then 'revoked'
                   when i.expires_at <= now() then 'expired' else 'pending' end as status`),
    );
  if (!row) return undefined;
  return {
    tenant: { id: row.tenant_id as string, name: row.tenant_name as string },
    email: row.email as string,
    inviter: (row.inviter as string | null) ?? null,
    status: row.status as InvitationStatus,
    expires_at: row.expires_at as Date,
  };
}

export interface AcceptingUser {
  id: string;
}

export interface AcceptedInvitation {
  tenant_id: string;
  invitation_id: string;
  user_id: string;
  roles: string[];
  /** The tenant's authz revision after the acceptance. */
  revision: number;
}

/**
 * Accepts an invitation for a signed-in user: the address must be the user's verified email.
 * Fails with a specific problem for an unknown (or replaced), revoked, accepted or expired
 * invitation and for the wrong account — and then changes nothing.
 */
export async function acceptInvitation(
  db: Knex,
  token: string,
  user: AcceptingUser,
  meta: Caller['meta'] = {},
): Promise<AcceptedInvitation> {
  if (!isUuid(user.id)) throw new AppError('unauthorized', { detail: 'the account cannot accept invitations' });
  const hash = hashToken(token);
  return db.transaction(async (trx) => {
    const found = await trx('invitations').where({ token_hash: hash }).first('id', 'tenant_id');
    if (!found) throw new AppError('not_found', { detail: 'this invitation link is not valid (a newer invitation may have replaced it)' });
    const tenantId = found.tenant_id as string;
    await lockTenantRevision(trx, tenantId);
    const tenant = await trx('tenants').where({ id: tenantId }).first('status');
    if (!tenant || tenant.status === 'deleted') throw new AppError('not_found', { detail: 'this invitation link is not valid' });
    if (tenant.status !== 'active')
      throw new AppError('conflict', { detail: 'the tenant is suspended', extensions: { reason: 'tenant_suspended' } });
    const account = await trx('users').where({ id: user.id }).first('email', 'email_verified_at', 'status');
    if (account?.status !== 'active') throw new AppError('unauthorized', { detail: 'the account cannot accept invitations' });

    const accepted = (await trx('invitations')
      .where({ id: found.id, tenant_id: tenantId })
      .whereNull('accepted_at')
      .whereNull('revoked_at')
      .andWhere('expires_at', '>', trx.fn.now())
      .andWhereRaw('lower(email) = lower(?)', [account.email_verified_at ? (account.email ?? '') : ''])
      .update({ accepted_at: trx.fn.now(), accepted_by: user.id })
      .returning(['id'])) as { id: string }[];
    if (!accepted.length) throw await whyNotAcceptable(trx, found.id as string, account);

    const caller: Caller = { actor: { type: 'user', sub: user.id, platformAdmin: false }, meta };
    const existing = await trx('memberships').where({ tenant_id: tenantId, user_id: user.id }).forUpdate().first('status');
    if (existing && existing.status !== 'active') {
      throw new AppError('conflict', {
        detail: `your membership of this tenant is ${existing.status}`,
        extensions: { reason: 'membership_suspended' },
      });
    }
    if (!existing) {
      await trx('memberships').insert({ tenant_id: tenantId, user_id: user.id, status: 'active', joined_at: trx.fn.now() });
    }
    const roles = (await trx('invitation_roles as ir')
      .join('roles as r', function () {
        this.on('r.tenant_id', '=', 'ir.tenant_id').andOn('r.id', '=', 'ir.role_id');
      })
      .where({ 'ir.tenant_id': tenantId, 'ir.invitation_id': found.id })
      .orderBy('r.key')
      .select('r.id', 'r.key')) as { id: string; key: string }[];
    const bound: { id: string; role: string }[] = [];
    for (const role of roles) {
      const [row] = (await trx('scope_bindings')
        .insert({
          tenant_id: tenantId,
          role_id: role.id,
          principal_type: 'user',
          principal_id: user.id,
          scope_type: 'tenant',
          scope_id: tenantId,
        })
        .onConflict(['tenant_id', 'principal_type', 'principal_id', 'scope_type', 'scope_id', 'role_id'])
        .ignore()
        .returning('id')) as { id: string }[];
      if (row) bound.push({ id: row.id, role: role.key });
    }

    await recordChange(trx, caller, {
      action: 'invitation.accepted',
      tenantId,
      target: { type: 'invitation', id: found.id as string },
      event: { data: { tenant_id: tenantId, invitation_id: found.id, user_id: user.id } },
    });
    if (!existing) {
      await recordChange(trx, caller, {
        action: 'membership.added',
        tenantId,
        target: { type: 'user', id: user.id },
        details: { roles: roles.map((r) => r.key), invitation_id: found.id },
        event: { data: { tenant_id: tenantId, user_id: user.id, roles: roles.map((r) => r.key) } },
      });
    }
    for (const b of bound) {
      await recordChange(trx, caller, {
        action: 'authz.binding.created',
        tenantId,
        target: { type: 'binding', id: b.id },
        details: { role: b.role, authority: 'invitation', invitation_id: found.id },
        event: {
          data: { binding_id: b.id, principal: { type: 'user', id: user.id }, role: b.role, scope: { type: 'tenant', id: tenantId } },
        },
      });
    }
    const revision = Number((await trx('authz_revisions').where({ tenant_id: tenantId }).first('revision'))?.revision ?? 0);
    return { tenant_id: tenantId, invitation_id: found.id as string, user_id: user.id, roles: roles.map((r) => r.key), revision };
  });
}

async function whyNotAcceptable(
  trx: Knex.Transaction,
  id: string,
  account: { email: string | null; email_verified_at: Date | null },
): Promise<AppError> {
  const inv = await trx('invitations').where({ id }).first('email', 'accepted_at', 'revoked_at', trx.raw('expires_at <= now() as expired'));
  if (inv.revoked_at) return new AppError('invitation_revoked', { detail: 'this invitation was revoked; ask for a new one' });
  if (inv.accepted_at) return new AppError('invitation_already_accepted', { detail: 'this invitation was already accepted' });
  if (inv.expired) return new AppError('invitation_expired', { detail: 'this invitation has expired; ask for a new one' });
  if (!account.email_verified_at) {
    return new AppError('invitation_wrong_account', { detail: 'verify the email address of your account, then accept again' });
  }
  return new AppError('invitation_wrong_account', {
    detail: 'this invitation was sent to another email address; sign in with that address to accept it',
  });
}
