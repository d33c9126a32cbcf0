import type { Knex } from 'knex';

/**
 * Seeds IAM's own permissions in the registry and the system role templates. Idempotent
 * (ON CONFLICT DO NOTHING); down() removes only rows this migration owns: permissions it
 * registered (registered_by = SEED_MARK) and the system templates it defines. Removing a
 * permission still used by a tenant role fails (FK restrict) — by design.
 */
export const config = { transaction: true };

export const SEED_MARK = 'migration:20261128100900_seed_authz';

type Perm = readonly [key: string, description: string, platformOnly?: boolean];

export const IAM_PERMISSIONS: readonly Perm[] = [
  ['iam.tenants.read', 'View tenant profile and settings'],
  ['iam.tenants.manage', 'Change tenant name and settings (sign-in methods, MFA policy, self sign-up, session lifetimes)'],
  ['iam.tenants.delete', 'Suspend or delete the tenant'],
  ['iam.ownership.transfer', 'Grant or revoke the owner role, transfer tenant ownership'],
  ['iam.domains.manage', 'Register and verify tenant email domains'],
  ['iam.members.read', 'List members and their roles'],
  ['iam.members.manage', 'Add, suspend and remove members'],
  ['iam.invitations.manage', 'Create and revoke invitations'],
  ['iam.sessions.read', "View members' active sessions"],
  ['iam.sessions.revoke', "Revoke members' sessions and grants"],
  ['iam.roles.read', 'View roles and their permissions'],
  ['iam.roles.manage', 'Create, change and delete custom roles'],
  ['iam.bindings.read', 'View role bindings at every scope'],
  ['iam.bindings.manage', 'Bind and unbind roles to principals at a scope'],
  ['iam.overrides.manage', 'Create and remove per-principal permission overrides'],
  ['iam.delegations.manage', 'Delegate role administration to other principals'],
  ['iam.clients.read', 'View OAuth clients'],
  ['iam.clients.manage', 'Create, change, delete OAuth clients and rotate their secrets'],
  ['iam.workloads.read', 'View workload identities'],
  ['iam.workloads.manage', 'Create, disable workload identities and manage their credentials'],
  ['iam.federation.read', 'View federation connections'],
  ['iam.federation.manage', 'Configure upstream identity providers, social connectors and home-realm discovery'],
  ['iam.audit.read', 'Read the audit log'],
  ['iam.audit.export', 'Export the audit log and verify its hash chain'],
  ['iam.authz.check', "Call the authorization check API for the tenant's principals"],
  ['iam.permissions.read', 'View the permission registry'],
  ['iam.permissions.register', 'Register permissions for a service in the platform registry', true],
  ['iam.platform.admin', 'Operate the IAM platform across tenants (operator only)', true],
];

const tenantAssignable = IAM_PERMISSIONS.filter(([, , platformOnly]) => !platformOnly).map(([key]) => key);
const reads = tenantAssignable.filter((k) => k.endsWith('.read'));
const OWNER_ONLY = new Set(['iam.tenants.delete', 'iam.ownership.transfer']);

export const SYSTEM_TEMPLATES: readonly { key: string; name: string; description: string; permissions: readonly string[] }[] = [
  {
    key: 'owner',
    name: 'Owner',
    description: 'Full control of the tenant, including deletion and ownership transfer',
    permissions: tenantAssignable,
  },
  {
    key: 'admin',
    name: 'Administrator',
    description: 'Administers the tenant; cannot delete it or transfer ownership',
    permissions: tenantAssignable.filter((k) => !OWNER_ONLY.has(k)),
  },
  {
    key: 'member',
    name: 'Member',
    description: 'Regular member: sees the tenant, its members and roles',
    permissions: ['iam.tenants.read', 'iam.members.read', 'iam.roles.read'],
  },
  {
    key: 'viewer',
    name: 'Viewer',
    description: 'Read-only access to tenant administration (no audit log)',
    permissions: reads.filter((k) => k !== 'iam.audit.read'),
  },
  {
    key: 'auditor',
    name: 'Auditor',
    description: 'Read-only access plus the audit log and its export',
    permissions: [...reads, 'iam.audit.export'],
  },
];

export async function up(knex: Knex): Promise<void> {
  await knex('permissions')
    .insert(
      IAM_PERMISSIONS.map(([key, description, platformOnly]) => ({
        key,
        service: 'iam',
        description,
        platform_only: platformOnly ?? false,
        registered_by: SEED_MARK,
      })),
    )
    .onConflict('key')
    .ignore();

  await knex('role_templates')
    .insert(SYSTEM_TEMPLATES.map(({ key, name, description }) => ({ key, name, description, is_system: true })))
    .onConflict('key')
    .ignore();

  const templates = (await knex('role_templates')
    .select('id', 'key')
    .whereIn(
      'key',
      SYSTEM_TEMPLATES.map((t) => t.key),
    )
    .andWhere('is_system', true)) as { id: string; key: string }[];
  const idByKey = new Map(templates.map((t) => [t.key, t.id]));
  const links = SYSTEM_TEMPLATES.flatMap((t) => {
    const templateId = idByKey.get(t.key);
    return templateId ? t.permissions.map((permission_key) => ({ template_id: templateId, permission_key })) : [];
  });
  await knex('role_template_permissions').insert(links).onConflict(['template_id', 'permission_key']).ignore();
}

export async function down(knex: Knex): Promise<void> {
  const templateKeys = SYSTEM_TEMPLATES.map((t) => t.key);
  // role_template_permissions rows go with their templates (on delete cascade).
  await knex('role_templates').whereIn('key', templateKeys).andWhere('is_system', true).delete();
  await knex('permissions')
    .whereIn(
      'key',
      IAM_PERMISSIONS.map(([key]) => key),
    )
    .andWhere('registered_by', SEED_MARK)
    .delete();
}
