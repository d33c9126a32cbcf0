import type { Knex } from 'knex';
import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import { lockId } from '../db/locks.ts';
import { AppError } from '../errors/index.ts';
import { enqueueEvent } from '../outbox/index.ts';
import { type Actor, type Caller, isUuid, PLATFORM_ADMIN } from './actor.ts';
import { enterTenant, requirePermission } from './authority.ts';
import { isUniqueViolation } from './db-errors.ts';
import { checkIfMatch, etagOf } from './etag.ts';
import { decodeCursor, type Page, toPage } from './pagination.ts';
import { recordChange } from './record.ts';
import { instantiateSystemRoles } from './roles.ts';
import { applySettingsPatch, settingsFromStored, settingsPatch, type TenantSettings } from './tenant-settings.ts';

/**
 * Tenant lifecycle (ADR-0017): created by platform administrators with the system roles and a
 * first owner; settings changed by `iam.tenants.manage` with If-Match; suspended by the
 * platform or by `iam.tenants.delete` and reactivated by the platform only (a suspended
 * tenant's members cannot sign in to undo it); deleted = marked, restorable by the platform
 * until `purge_after`, then erased by the purge job.
 */

export const tenantSlug = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens, at most 63 characters');
const tenantName = z.string().trim().min(1).max(200);

export const createTenantInput = z
  .object({
    slug: tenantSlug,
    name: tenantName,
    settings: settingsPatch.optional(),
    /** The first owner; defaults to the calling user. Required when a workload creates the tenant. */
    owner_user_id: z.uuid().optional(),
  })
  .strict();
export type CreateTenantInput = z.infer<typeof createTenantInput>;

export const updateTenantInput = z.object({ name: tenantName.optional(), settings: settingsPatch.optional() }).strict();
export type UpdateTenantInput = z.infer<typeof updateTenantInput>;

export const statusChangeInput = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();
export type StatusChangeInput = z.infer<typeof statusChangeInput>;

export interface TenantView {
  id: string;
  slug: string;
  name: string;
  status: 'active' | 'suspended' | 'deleted';
  status_reason: string | null;
  settings: TenantSettings;
  verified_domains: string[];
  created_at: Date;
  updated_at: Date;
  suspended_at: Date | null;
  deleted_at: Date | null;
  purge_after: Date | null;
}

interface TenantRow {
  id: string;
  slug: string;
  name: string;
  status: TenantView['status'];
  status_reason: string | null;
  settings: unknown;
  created_at: Date;
  updated_at: Date;
  suspended_at: Date | null;
  deleted_at: Date | null;
  purge_after: Date | null;
}

const COLUMNS = [
  'id',
  'slug',
  'name',
  'status',
  'status_reason',
  'settings',
  'created_at',
  'updated_at',
  'suspended_at',
  'deleted_at',
  'purge_after',
];

async function view(db: Knex | Knex.Transaction, row: TenantRow): Promise<TenantView> {
  const domains = (await db('tenant_domains')
    .where({ tenant_id: row.id })
    .whereNotNull('verified_at')
    .orderBy('domain')
    .pluck('domain')) as string[];
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    status_reason: row.status_reason,
    settings: settingsFromStored(row.settings),
    verified_domains: domains,
    created_at: row.created_at,
    updated_at: row.updated_at,
    suspended_at: row.suspended_at,
    deleted_at: row.deleted_at,
    purge_after: row.purge_after,
  };
}

export const tenantEtag = (t: TenantView) => etagOf(t);

function requirePlatform(actor: Actor, what: string): void {
  if (!actor.platformAdmin) {
    throw new AppError('forbidden', { detail: `${what} needs ${PLATFORM_ADMIN}`, extensions: { missing_permissions: [PLATFORM_ADMIN] } });
  }
}

function settingsOrProblem(stored: unknown, patch: z.infer<typeof settingsPatch>) {
  try {
    return applySettingsPatch(stored, patch);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new AppError('validation_failed', {
      detail: err.message,
      invalidParams: [{ name: 'body.settings.session_idle_s', reason: err.message }],
    });
  }
}

export async function createTenant(trx: Knex.Transaction, caller: Caller, input: CreateTenantInput): Promise<TenantView> {
  requirePlatform(caller.actor, 'creating a tenant');
  const ownerId = input.owner_user_id ?? (caller.actor.type === 'user' && isUuid(caller.actor.sub) ? caller.actor.sub : undefined);
  if (!ownerId) {
    throw new AppError('validation_failed', {
      detail: 'a tenant needs a first owner: name a user in owner_user_id',
      invalidParams: [{ name: 'body.owner_user_id', reason: 'required when the caller is not a user' }],
    });
  }
  const owner = await trx('users').where({ id: ownerId, status: 'active' }).first('id');
  if (!owner) {
    throw new AppError('validation_failed', {
      detail: 'the owner must be an active user',
      invalidParams: [{ name: 'body.owner_user_id', reason: 'no active user with this id' }],
    });
  }
  const { stored } = settingsOrProblem({}, input.settings ?? {});
  // Two creates of one slug: the loser waits here and then reports the conflict cleanly.
  await trx.raw('select pg_advisory_xact_lock(?)', [lockId(`iam:tenant-slug:${input.slug}`)]);
  if (await trx('tenants').where({ slug: input.slug }).first('id')) {
    throw new AppError('conflict', { detail: `the slug ${input.slug} is taken`, extensions: { reason: 'slug_taken' } });
  }
  let row: TenantRow;
  try {
    row = (
      await trx('tenants')
        .insert({ slug: input.slug, name: input.name, settings: JSON.stringify(stored) })
        .returning(COLUMNS)
    )[0] as TenantRow;
  } catch (err) {
    if (isUniqueViolation(err))
      throw new AppError('conflict', { detail: `the slug ${input.slug} is taken`, extensions: { reason: 'slug_taken' } });
    throw err;
  }
  const roles = await instantiateSystemRoles(trx, row.id);
  const ownerRole = roles.get('owner');
  if (!ownerRole) throw new Error('the owner role template is missing (seed migration not applied?)');
  const createdBy = caller.actor.type === 'user' && isUuid(caller.actor.sub) ? caller.actor.sub : null;
  await trx('memberships').insert({
    tenant_id: row.id,
    user_id: ownerId,
    status: 'active',
    joined_at: trx.fn.now(),
    created_by: createdBy,
  });
  const [binding] = await trx('scope_bindings')
    .insert({
      tenant_id: row.id,
      role_id: ownerRole,
      principal_type: 'user',
      principal_id: ownerId,
      scope_type: 'tenant',
      scope_id: row.id,
      created_by: createdBy,
    })
    .returning('id');

  await recordChange(trx, caller, {
    action: 'tenant.created',
    tenantId: row.id,
    target: { type: 'tenant', id: row.id },
    details: { slug: row.slug, owner_user_id: ownerId },
    event: { data: { id: row.id, slug: row.slug } },
  });
  await recordChange(trx, caller, {
    action: 'membership.added',
    tenantId: row.id,
    target: { type: 'user', id: ownerId },
    details: { roles: ['owner'] },
    event: { data: { tenant_id: row.id, user_id: ownerId, roles: ['owner'] } },
  });
  await recordChange(trx, caller, {
    action: 'authz.binding.created',
    tenantId: row.id,
    target: { type: 'binding', id: binding.id },
    event: {
      data: {
        binding_id: binding.id,
        principal: { type: 'user', id: ownerId },
        role: 'owner',
        scope: { type: 'tenant', id: row.id },
      },
    },
  });
  return view(trx, row);
}

export async function getTenant(trx: Knex.Transaction, caller: Caller, tenantId: string): Promise<TenantView> {
  const access = await enterTenant(trx, tenantId, caller.actor, { allowDeleted: true });
  requirePermission(access, 'iam.tenants.read');
  const row = await trx('tenants').where({ id: tenantId }).first(COLUMNS);
  return view(trx, row as TenantRow);
}

export async function updateTenant(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: UpdateTenantInput,
  ifMatch: string | undefined,
): Promise<TenantView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.tenants.manage');
  const row = (await trx('tenants').where({ id: tenantId }).forUpdate().first(COLUMNS)) as TenantRow;
  checkIfMatch(ifMatch, tenantEtag(await view(trx, row)), true);
  const changed: string[] = [];
  const update: Record<string, unknown> = {};
  if (input.name !== undefined && input.name !== row.name) {
    update.name = input.name;
    changed.push('name');
  }
  if (input.settings) {
    const patched = settingsOrProblem(row.settings, input.settings);
    if (patched.changed.length) {
      update.settings = JSON.stringify(patched.stored);
      changed.push(...patched.changed);
    }
  }
  if (!changed.length) return view(trx, row);
  const [updated] = await trx('tenants').where({ id: tenantId }).update(update).returning(COLUMNS);
  await recordChange(trx, caller, {
    action: 'tenant.updated',
    tenantId,
    target: { type: 'tenant', id: tenantId },
    details: { changed },
    event: { data: { id: tenantId, changed } },
  });
  return view(trx, updated as TenantRow);
}

export async function suspendTenant(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: StatusChangeInput,
): Promise<TenantView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.tenants.delete');
  const row = (await trx('tenants').where({ id: tenantId }).forUpdate().first(COLUMNS)) as TenantRow;
  if (row.status !== 'active') throw new AppError('conflict', { detail: `the tenant is ${row.status}` });
  const [updated] = await trx('tenants')
    .where({ id: tenantId })
    .update({ status: 'suspended', suspended_at: trx.fn.now(), status_reason: input.reason ?? null })
    .returning(COLUMNS);
  await recordChange(trx, caller, {
    action: 'tenant.suspended',
    tenantId,
    target: { type: 'tenant', id: tenantId },
    details: { reason: input.reason ?? null },
    event: { data: { id: tenantId, reason: input.reason ?? null } },
  });
  return view(trx, updated as TenantRow);
}

/** Suspended → active, or deleted (not yet purged) → active. Platform administrators only. */
export async function reactivateTenant(trx: Knex.Transaction, caller: Caller, tenantId: string): Promise<TenantView> {
  await enterTenant(trx, tenantId, caller.actor, { allowDeleted: true });
  requirePlatform(caller.actor, 'reactivating a tenant');
  const row = (await trx('tenants').where({ id: tenantId }).forUpdate().first(COLUMNS)) as TenantRow;
  if (row.status === 'active') throw new AppError('conflict', { detail: 'the tenant is active' });
  const restored = row.status === 'deleted';
  const [updated] = await trx('tenants')
    .where({ id: tenantId })
    .update({ status: 'active', suspended_at: null, deleted_at: null, purge_after: null, status_reason: null })
    .returning(COLUMNS);
  const action = restored ? 'tenant.restored' : 'tenant.resumed';
  await recordChange(trx, caller, {
    action,
    tenantId,
    target: { type: 'tenant', id: tenantId },
    details: { from: row.status },
    event: { data: { id: tenantId } },
  });
  return view(trx, updated as TenantRow);
}

export async function deleteTenant(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  input: StatusChangeInput,
  retentionDays: number,
): Promise<TenantView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.tenants.delete');
  const [updated] = await trx('tenants')
    .where({ id: tenantId })
    .update({
      status: 'deleted',
      deleted_at: trx.fn.now(),
      purge_after: trx.raw(`now() + make_interval(days => ?)`, [retentionDays]),
      status_reason: input.reason ?? null,
    })
    .returning(COLUMNS);
  await recordChange(trx, caller, {
    action: 'tenant.deleted',
    tenantId,
    target: { type: 'tenant', id: tenantId },
    details: { reason: input.reason ?? null, retention_days: retentionDays },
    event: { data: { id: tenantId } },
  });
  return view(trx, updated as TenantRow);
}

export const listTenantsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
    status: z.enum(['active', 'suspended', 'deleted']).optional(),
  })
  .strict();
export type ListTenantsQuery = z.infer<typeof listTenantsQuery>;

/**
 * Platform administrators see every tenant; anyone else sees the tenants it belongs to
 * (users through memberships, workloads through their identity), never a deleted one.
 */
export async function listTenants(db: Knex, actor: Actor, query: ListTenantsQuery): Promise<Page<TenantView>> {
  const after = decodeCursor(query.cursor);
  const q = db('tenants as t').select(COLUMNS.map((c) => `t.${c}`));
  if (actor.platformAdmin) {
    if (query.status) q.where('t.status', query.status);
  } else {
    q.whereNot('t.status', 'deleted');
    if (query.status) q.where('t.status', query.status);
    if (actor.type === 'user') {
      if (!isUuid(actor.sub)) return { items: [], next_cursor: null };
      q.whereExists((s) => s.select(db.raw('1')).from('memberships as m').whereRaw('m.tenant_id = t.id').andWhere('m.user_id', actor.sub));
    } else {
      q.whereExists((s) =>
        s.select(db.raw('1')).from('workload_identities as w').whereRaw('w.tenant_id = t.id').andWhere('w.sub', actor.sub),
      );
    }
    if (actor.tokenTenantId) q.where('t.id', isUuid(actor.tokenTenantId) ? actor.tokenTenantId : null);
  }
  if (after) q.where('t.id', '>', after);
  const rows = (await q.orderBy('t.id').limit(query.limit + 1)) as TenantRow[];
  const page = toPage(rows, query.limit, (r) => r);
  return { items: await Promise.all(page.items.map((r) => view(db, r))), next_cursor: page.next_cursor };
}

/**
 * Erases deleted tenants whose retention has passed (everything tenant-owned goes by cascade;
 * audit events stay, they reference ids without foreign keys). One instance at a time works
 * (transaction-scoped try-lock); rows are claimed with SKIP LOCKED in small batches.
 */
export async function purgeDeletedTenants(db: Knex, batchSize = 20): Promise<number> {
  let total = 0;
  for (;;) {
    const purged = await purgeBatch(db, batchSize);
    total += purged;
    if (purged < batchSize) return total;
  }
}

/** One short transaction per batch, so a large backlog never holds one long lock. */
async function purgeBatch(db: Knex, batchSize: number): Promise<number> {
  return db.transaction(async (trx) => {
    const { rows } = (await trx.raw('select pg_try_advisory_xact_lock(?) as locked', [lockId('iam:tenant-purge')])) as {
      rows: { locked: boolean }[];
    };
    if (!rows[0]?.locked) return 0;
    const due = (await trx('tenants')
      .where({ status: 'deleted' })
      .andWhere('purge_after', '<=', trx.fn.now())
      .orderBy('purge_after')
      .limit(batchSize)
      .forUpdate()
      .skipLocked()
      .select('id', 'slug')) as { id: string; slug: string }[];
    for (const t of due) {
      await trx('tenants').where({ id: t.id }).delete();
      await recordAudit(trx, {
        action: 'tenant.purged',
        actor: { type: 'system', id: 'tenant-purge' },
        tenantId: t.id,
        target: { type: 'tenant', id: t.id },
        details: { slug: t.slug },
      });
      await enqueueEvent(trx, { type: 'com.infranotes.iam.tenant.purged', key: t.id, tenantId: t.id, data: { id: t.id } });
    }
    return due.length;
  });
}
