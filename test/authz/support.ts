import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { PrincipalRef, ScopeRef } from '../../src/authz/model.ts';

/*
 * Authorization fixtures written straight to the tables (the check side must not depend on
 * the write-side services it is used by).
 */

const suffix = () => randomBytes(4).toString('hex');

export async function createTenant(db: Knex, status: 'active' | 'suspended' = 'active'): Promise<string> {
  const [row] = await db('tenants')
    .insert({ slug: `t-${suffix()}`, name: 'Tenant', status, suspended_at: status === 'suspended' ? db.fn.now() : null })
    .returning('id');
  return row.id as string;
}

export async function createUser(db: Knex): Promise<string> {
  const [row] = await db('users')
    .insert({ email: `u-${suffix()}@example.test` })
    .returning('id');
  return row.id as string;
}

export async function addMember(db: Knex, tenantId: string, userId: string, status = 'active'): Promise<void> {
  await db('memberships').insert({ tenant_id: tenantId, user_id: userId, status });
}

/** A user who is an active member of the tenant. */
export async function createMember(db: Knex, tenantId: string): Promise<PrincipalRef> {
  const id = await createUser(db);
  await addMember(db, tenantId, id);
  return { type: 'user', id };
}

export async function createWorkload(db: Knex, tenantId: string, status: 'active' | 'disabled' = 'active'): Promise<PrincipalRef> {
  const name = `w-${suffix()}`;
  const [row] = await db('workload_identities')
    .insert({ tenant_id: tenantId, name, sub: `workload:${name}`, status, disabled_at: status === 'disabled' ? db.fn.now() : null })
    .returning('id');
  return { type: 'workload', id: row.id as string };
}

export async function createRole(db: Knex, tenantId: string, key: string, permissions: readonly string[]): Promise<string> {
  const [row] = await db('roles').insert({ tenant_id: tenantId, key, name: key }).returning('id');
  if (permissions.length) {
    await db('role_permissions').insert(permissions.map((permission_key) => ({ tenant_id: tenantId, role_id: row.id, permission_key })));
  }
  return row.id as string;
}

export async function bind(
  db: Knex | Knex.Transaction,
  tenantId: string,
  principal: PrincipalRef,
  roleId: string,
  scope: ScopeRef,
  expiresAt: Date | null = null,
): Promise<string> {
  const [row] = await db('scope_bindings')
    .insert({
      tenant_id: tenantId,
      role_id: roleId,
      principal_type: principal.type,
      principal_id: principal.id,
      scope_type: scope.type,
      scope_id: scope.id,
      expires_at: expiresAt,
    })
    .returning('id');
  return row.id as string;
}

export async function override(
  db: Knex,
  tenantId: string,
  principal: PrincipalRef,
  permission: string,
  effect: 'allow' | 'deny',
  scope: ScopeRef,
  opts: { reason?: string; expiresAt?: Date | null } = {},
): Promise<string> {
  const [row] = await db('permission_overrides')
    .insert({
      tenant_id: tenantId,
      principal_type: principal.type,
      principal_id: principal.id,
      permission_key: permission,
      effect,
      scope_type: scope.type,
      scope_id: scope.id,
      reason: opts.reason ?? 'test',
      expires_at: opts.expiresAt ?? null,
    })
    .returning('id');
  return row.id as string;
}

export async function revisionOf(db: Knex | Knex.Transaction, tenantId: string): Promise<number> {
  const row = await db('authz_revisions').where({ tenant_id: tenantId }).first('revision');
  return Number(row?.revision ?? 0);
}

export const tenantScope = (id: string): ScopeRef => ({ type: 'tenant', id });
export const team = (id: string): ScopeRef => ({ type: 'team', id });
export const project = (id: string): ScopeRef => ({ type: 'project', id });

/** A workload identity authenticating as an OAuth client (client_credentials tokens name the client). */
export async function createWorkloadClient(db: Knex, tenantId: string): Promise<{ principal: PrincipalRef; clientId: string }> {
  const clientId = `svc-${suffix()}`;
  const [client] = await db('oauth_clients')
    .insert({ client_id: clientId, tenant_id: tenantId, name: clientId, grant_types: ['client_credentials'], response_types: [] })
    .returning('id');
  const [row] = await db('workload_identities')
    .insert({ tenant_id: tenantId, name: clientId, sub: `workload:${clientId}`, oauth_client_id: client.id })
    .returning('id');
  return { principal: { type: 'workload', id: row.id as string }, clientId };
}

/** A tenant with the check permission granted to one member (`admin`), and two plain members. */
export async function checkWorld(db: Knex) {
  const tenantId = await createTenant(db);
  const admin = await createMember(db, tenantId);
  const alice = await createMember(db, tenantId);
  const bob = await createMember(db, tenantId);
  const checker = await createRole(db, tenantId, 'checker', ['iam.authz.check']);
  const editor = await createRole(db, tenantId, 'editor', ['iam.members.read', 'iam.roles.read']);
  await bind(db, tenantId, admin, checker, tenantScope(tenantId));
  return { tenantId, admin, alice, bob, checker, editor };
}
