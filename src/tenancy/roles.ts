import type { Knex } from 'knex';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import { actorUserId, type Caller } from './actor.ts';
import { enterTenant, requireHolding, requirePermission } from './authority.ts';
import { isUniqueViolation } from './db-errors.ts';
import { checkIfMatch, etagOf } from './etag.ts';
import { decodeCursor, type Page, pageQuery, toPage } from './pagination.ts';
import { recordChange } from './record.ts';

/**
 * Role templates and tenant roles. A tenant role is a named set of registry permissions; the
 * system roles (owner, admin, member, viewer, auditor) are instantiated from the system
 * templates when the tenant is created, cannot be deleted and keep their template's
 * permissions. No escalation: creating, changing or deleting a role needs every permission it
 * names (changing one re-grants or revokes them for everyone bound to it).
 */

const roleKey = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lower-case, starts with a letter, at most 64 characters');
const permissionList = z
  .array(z.string().max(128))
  .max(500)
  .refine((p) => new Set(p).size === p.length, 'permissions must not repeat');

export const createRoleInput = z
  .object({
    key: roleKey,
    name: z.string().trim().min(1).max(200),
    description: z.string().trim().max(1000).optional(),
    /** Copy the permissions of this template (by key); mutually exclusive with `permissions`. */
    template: roleKey.optional(),
    permissions: permissionList.optional(),
  })
  .strict()
  .refine((r) => !(r.template && r.permissions), { message: 'give either a template or permissions, not both', path: ['permissions'] });
export type CreateRoleInput = z.infer<typeof createRoleInput>;

export const updateRoleInput = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().trim().max(1000).optional(),
    permissions: permissionList.optional(),
  })
  .strict();
export type UpdateRoleInput = z.infer<typeof updateRoleInput>;

export const listRolesQuery = z.object(pageQuery).strict();

export interface RoleView {
  id: string;
  key: string;
  name: string;
  description: string;
  template: string | null;
  is_system: boolean;
  permissions: string[];
  created_at: Date;
  updated_at: Date;
}

export interface TemplateView {
  key: string;
  name: string;
  description: string;
  is_system: boolean;
  permissions: string[];
}

export const roleEtag = (r: RoleView) => etagOf(r);

/** Creates the tenant's system roles from the system templates; returns role ids by key. */
export async function instantiateSystemRoles(trx: Knex.Transaction, tenantId: string): Promise<Map<string, string>> {
  const templates = await trx('role_templates').where({ is_system: true }).orderBy('key').select('id', 'key', 'name', 'description');
  const ids = new Map<string, string>();
  for (const t of templates) {
    const [role] = await trx('roles')
      .insert({ tenant_id: tenantId, key: t.key, name: t.name, description: t.description, template_id: t.id, is_system: true })
      .returning('id');
    ids.set(t.key as string, role.id as string);
    await trx.raw(
      `insert into role_permissions (tenant_id, role_id, permission_key)
       select ?, ?, permission_key from role_template_permissions where template_id = ?`,
      [tenantId, role.id, t.id],
    );
  }
  return ids;
}

export async function listTemplates(db: Knex): Promise<TemplateView[]> {
  const { rows } = (await db.raw(
    `select t.key, t.name, t.description, t.is_system,
            coalesce(array_agg(p.permission_key order by p.permission_key) filter (where p.permission_key is not null), '{}') as permissions
       from role_templates t left join role_template_permissions p on p.template_id = t.id
      group by t.id order by t.key`,
  )) as { rows: TemplateView[] };
  return rows;
}

const ROLE_SQL = `
  select r.id, r.key, r.name, r.description, t.key as template, r.is_system,
         coalesce(array(select rp.permission_key from role_permissions rp
                         where rp.tenant_id = r.tenant_id and rp.role_id = r.id order by rp.permission_key), '{}') as permissions,
         r.created_at, r.updated_at
    from roles r left join role_templates t on t.id = r.template_id
   where r.tenant_id = ?`;

/** One role of the tenant, or 404 (a role of another tenant does not exist here). */
export async function loadRole(trx: Knex | Knex.Transaction, tenantId: string, roleId: string): Promise<RoleView> {
  const { rows } = (await trx.raw(`${ROLE_SQL} and r.id = ?`, [tenantId, roleId])) as { rows: RoleView[] };
  if (!rows[0]) throw new AppError('not_found', { detail: 'no such role' });
  return rows[0];
}

export async function listRoles(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  query: z.infer<typeof listRolesQuery>,
): Promise<Page<RoleView>> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.roles.read');
  const after = decodeCursor(query.cursor);
  const { rows } = (await trx.raw(`${ROLE_SQL} ${after ? 'and r.id > ?' : ''} order by r.id limit ?`, [
    tenantId,
    ...(after ? [after] : []),
    query.limit + 1,
  ])) as { rows: RoleView[] };
  return toPage(rows, query.limit, (r) => r);
}

export async function getRole(trx: Knex.Transaction, caller: Caller, tenantId: string, roleId: string): Promise<RoleView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.roles.read');
  return loadRole(trx, tenantId, roleId);
}

/** Registry permissions a tenant role may contain: registered, not platform-only, not deprecated. */
async function assertAssignable(trx: Knex.Transaction, permissions: readonly string[]): Promise<void> {
  if (!permissions.length) return;
  const rows = (await trx('permissions').whereIn('key', permissions).select('key', 'platform_only', 'deprecated_at')) as {
    key: string;
    platform_only: boolean;
    deprecated_at: Date | null;
  }[];
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const invalid = permissions.flatMap((key, i) => {
    const row = byKey.get(key);
    const reason = !row
      ? 'not in the permission registry'
      : row.platform_only
        ? 'platform-only permissions cannot be placed in tenant roles'
        : row.deprecated_at
          ? 'deprecated'
          : undefined;
    return reason ? [{ name: `body.permissions.${i}`, reason }] : [];
  });
  if (invalid.length)
    throw new AppError('validation_failed', { detail: 'some permissions cannot be placed in a role', invalidParams: invalid });
}

export async function createRole(trx: Knex.Transaction, caller: Caller, tenantId: string, input: CreateRoleInput): Promise<RoleView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.roles.manage');
  let templateId: string | null = null;
  let permissions = input.permissions ?? [];
  if (input.template) {
    const template = await trx('role_templates').where({ key: input.template }).first('id');
    if (!template) {
      throw new AppError('validation_failed', {
        detail: 'no such role template',
        invalidParams: [{ name: 'body.template', reason: 'unknown template key' }],
      });
    }
    templateId = template.id as string;
    permissions = (await trx('role_template_permissions')
      .where({ template_id: templateId })
      .orderBy('permission_key')
      .pluck('permission_key')) as string[];
  }
  await assertAssignable(trx, permissions);
  requireHolding(access, permissions, undefined, 'creating this role');
  let role: { id: string };
  try {
    role = (
      await trx('roles')
        .insert({
          tenant_id: tenantId,
          key: input.key,
          name: input.name,
          description: input.description ?? '',
          template_id: templateId,
          is_system: false,
          created_by: actorUserId(caller.actor),
        })
        .returning('id')
    )[0] as { id: string };
  } catch (err) {
    if (isUniqueViolation(err, 'roles_tenant_key_key')) {
      throw new AppError('conflict', { detail: `the tenant already has a role ${input.key}`, extensions: { reason: 'role_key_taken' } });
    }
    throw err;
  }
  if (permissions.length) {
    await trx('role_permissions').insert(permissions.map((permission_key) => ({ tenant_id: tenantId, role_id: role.id, permission_key })));
  }
  const sorted = [...permissions].sort();
  await recordChange(trx, caller, {
    action: 'role.created',
    tenantId,
    target: { type: 'role', id: role.id },
    details: { key: input.key, template: input.template ?? null, permissions: sorted },
    event: { data: { tenant_id: tenantId, role_id: role.id, key: input.key, permissions: sorted } },
  });
  return loadRole(trx, tenantId, role.id);
}

export async function updateRole(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  roleId: string,
  input: UpdateRoleInput,
  ifMatch: string | undefined,
): Promise<RoleView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.roles.manage');
  await trx('roles').where({ tenant_id: tenantId, id: roleId }).forUpdate().first('id');
  const current = await loadRole(trx, tenantId, roleId);
  checkIfMatch(ifMatch, roleEtag(current), true);
  const changed: string[] = [];
  const update: Record<string, unknown> = {};
  if (input.name !== undefined && input.name !== current.name) {
    update.name = input.name;
    changed.push('name');
  }
  if (input.description !== undefined && input.description !== current.description) {
    update.description = input.description;
    changed.push('description');
  }
  let added: string[] = [];
  let removed: string[] = [];
  if (input.permissions) {
    const next = new Set(input.permissions);
    const before = new Set(current.permissions);
    added = [...next].filter((p) => !before.has(p));
    removed = [...before].filter((p) => !next.has(p));
    if ((added.length || removed.length) && current.is_system) {
      throw new AppError('conflict', {
        detail: 'the permissions of a system role follow its template; create a custom role instead',
        extensions: { reason: 'system_role' },
      });
    }
    await assertAssignable(trx, added);
    requireHolding(access, [...added, ...removed], undefined, 'changing the permissions of this role');
    if (added.length || removed.length) changed.push('permissions');
  }
  if (!changed.length) return current;
  if (removed.length)
    await trx('role_permissions').where({ tenant_id: tenantId, role_id: roleId }).whereIn('permission_key', removed).delete();
  if (added.length)
    await trx('role_permissions').insert(added.map((permission_key) => ({ tenant_id: tenantId, role_id: roleId, permission_key })));
  // updated_at moves even when only permissions changed: the ETag must change with them.
  await trx('roles')
    .where({ tenant_id: tenantId, id: roleId })
    .update({ ...update, updated_at: trx.fn.now() });
  const updated = await loadRole(trx, tenantId, roleId);
  await recordChange(trx, caller, {
    action: 'role.updated',
    tenantId,
    target: { type: 'role', id: roleId },
    details: { changed, added, removed },
    event: { data: { tenant_id: tenantId, role_id: roleId, key: updated.key, changed, permissions: updated.permissions } },
  });
  return updated;
}

export async function deleteRole(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  roleId: string,
  ifMatch: string | undefined,
): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.roles.manage');
  await trx('roles').where({ tenant_id: tenantId, id: roleId }).forUpdate().first('id');
  const current = await loadRole(trx, tenantId, roleId);
  checkIfMatch(ifMatch, roleEtag(current), false);
  if (current.is_system)
    throw new AppError('conflict', { detail: 'system roles cannot be deleted', extensions: { reason: 'system_role' } });
  requireHolding(access, current.permissions, undefined, 'deleting this role');
  const bindings = Number(
    ((await trx('scope_bindings').where({ tenant_id: tenantId, role_id: roleId }).count<{ n: string }[]>('* as n'))[0] as { n: string }).n,
  );
  await trx('roles').where({ tenant_id: tenantId, id: roleId }).delete();
  await recordChange(trx, caller, {
    action: 'role.deleted',
    tenantId,
    target: { type: 'role', id: roleId },
    details: { key: current.key, permissions: current.permissions, bindings_removed: bindings },
    event: { data: { tenant_id: tenantId, role_id: roleId, key: current.key } },
  });
}
