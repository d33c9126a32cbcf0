import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Knex } from 'knex';
import { AppError } from '../../errors/index.ts';
import { createMailer } from '../../mail/index.ts';
import { isUuid } from '../../tenancy/actor.ts';
import {
  type Caller,
  createInvitation,
  createInvitationInput,
  createTenant,
  createTenantInput,
  deleteTenant,
  getTenant,
  listMembers,
  listMembersQuery,
  listTenants,
  listTenantsQuery,
  reactivateTenant,
  suspendTenant,
  type TenantView,
  tenantWrite,
} from '../../tenancy/index.ts';
import { CliExit, type CliRuntime, type RunCommand } from '../runtime.ts';

/**
 * Tenant administration for operators (DESIGN §10): the same services, rules, audit rows and
 * outbox events as the admin API (ADR-0017), called as a platform administrator — the audit
 * actor is `system` / `cli:<login>`.
 */
function cliCaller(): Caller {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the audit event still says it came from the CLI.
  }
  return { actor: { type: 'system', sub: `cli:${user}`, platformAdmin: true }, meta: {} };
}

/** A tenant by id or slug (deleted ones too: they can be shown and restored). */
async function tenantId(db: Knex, ref: string): Promise<string> {
  const row = await db('tenants')
    .where(isUuid(ref) ? { id: ref } : { slug: ref.toLowerCase() })
    .first('id');
  if (!row) throw new AppError('not_found', { detail: `no tenant ${ref}` });
  return row.id as string;
}

function limitOf(value: string | undefined): number {
  const limit = value === undefined ? 50 : Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new CliExit(`--limit: "${value}" is not an integer from 1 to 200`, 2);
  return limit;
}

const tenantRow = (t: TenantView) => ({ id: t.id, slug: t.slug, name: t.name, status: t.status, created_at: t.created_at });
const wantsJson = (cmd: Command) => Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The same validation as the API's request bodies, reported as the API would. */
function valid<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  value: unknown,
): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ name: i.path.map(String).join('.'), reason: i.message }));
  throw new AppError('validation_failed', { detail: issues.map((i) => `${i.name}: ${i.reason}`).join('; '), invalidParams: issues });
}

async function createWithOwner(rt: CliRuntime, opts: { name: string; slug: string; ownerEmail: string }) {
  valid(createTenantInput, { name: opts.name, slug: opts.slug });
  const db = await rt.db();
  const caller = cliCaller();
  return db.transaction(async (trx) => {
    // The owner signs in like anyone: the account must exist (`iam users create`) and be active.
    const owner = await trx('users')
      .whereRaw('lower(email) = lower(?)', [opts.ownerEmail.trim()])
      .whereNull('deleted_at')
      .first('id', 'email', 'status');
    if (owner?.status !== 'active') {
      throw new AppError('validation_failed', {
        detail: `no active user with the email ${opts.ownerEmail}; create one first with: iam users create --email ${opts.ownerEmail}`,
        invalidParams: [{ name: 'owner-email', reason: 'no active user with this email' }],
      });
    }
    const tenant = await createTenant(trx, caller, { name: opts.name, slug: opts.slug, owner_user_id: owner.id as string });
    return { ...tenant, owner: { id: owner.id as string, email: owner.email as string } };
  });
}

export function registerTenantsCommands(program: Command, run: RunCommand): void {
  const tenants = program.command('tenants').description('tenants: create, list, show, suspend, resume, delete');

  tenants
    .command('create')
    .description('create a tenant with the system roles; the owner must be an existing active user')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--slug <slug>', 'unique lower-case identifier (letters, digits, inner hyphens)')
    .requiredOption('--owner-email <email>', 'email of the first owner (create it with `iam users create`)')
    .action((opts: { name: string; slug: string; ownerEmail: string }, cmd: Command) => run(cmd, (rt) => createWithOwner(rt, opts)));

  tenants
    .command('list')
    .description('list tenants (in creation order)')
    .option('--status <status>', 'active, suspended or deleted')
    .option('--limit <n>', 'at most this many (default 50, at most 200)')
    .option('--cursor <cursor>', 'continue after the page that returned this cursor')
    .action((opts: { status?: string; limit?: string; cursor?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const query = listTenantsQuery.safeParse({ limit: limitOf(opts.limit), cursor: opts.cursor, status: opts.status });
        if (!query.success) throw new CliExit(`invalid option: ${query.error.issues.map((i) => i.path.join('.')).join(', ')}`, 2);
        const page = await listTenants(await rt.db(), cliCaller().actor, query.data);
        return wantsJson(cmd) ? page : page.items.map(tenantRow);
      }),
    );

  tenants
    .command('show')
    .description('show a tenant with its settings')
    .argument('<id|slug>')
    .action((ref: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const id = await tenantId(db, ref);
        return db.transaction((trx) => getTenant(trx, cliCaller(), id));
      }),
    );

  tenants
    .command('suspend')
    .description('suspend a tenant: its members cannot sign in to it and its workloads get no tokens, at once')
    .argument('<id|slug>')
    .option('--reason <text>', 'why (recorded with the tenant and in the audit log)')
    .action((ref: string, opts: { reason?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const id = await tenantId(db, ref);
        return (await tenantWrite(db, id, (trx) => suspendTenant(trx, cliCaller(), id, opts.reason ? { reason: opts.reason } : {}))).result;
      }),
    );

  tenants
    .command('resume')
    .description('reactivate a suspended tenant, or restore a deleted one before it is purged')
    .argument('<id|slug>')
    .action((ref: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const id = await tenantId(db, ref);
        return (await tenantWrite(db, id, (trx) => reactivateTenant(trx, cliCaller(), id))).result;
      }),
    );

  tenants
    .command('delete')
    .description(
      'delete a tenant: gone for its members at once, erased after tenancy.deletion_retention_days (until then `resume` restores it)',
    )
    .argument('<id|slug>')
    .option('--reason <text>', 'why (recorded with the tenant and in the audit log)')
    .action((ref: string, opts: { reason?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const id = await tenantId(db, ref);
        const days = rt.config.tenancy.deletion_retention_days;
        return (await tenantWrite(db, id, (trx) => deleteTenant(trx, cliCaller(), id, opts.reason ? { reason: opts.reason } : {}, days)))
          .result;
      }),
    );

  const members = program.command('members').description('members of a tenant: list');
  members
    .command('list')
    .description('list the members of a tenant with their tenant-wide roles')
    .requiredOption('--tenant <id|slug>', 'the tenant')
    .option('--status <status>', 'active or suspended')
    .option('--limit <n>', 'at most this many (default 50, at most 200)')
    .option('--cursor <cursor>', 'continue after the page that returned this cursor')
    .action((opts: { tenant: string; status?: string; limit?: string; cursor?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const id = await tenantId(db, opts.tenant);
        const query = listMembersQuery.safeParse({ limit: limitOf(opts.limit), cursor: opts.cursor, status: opts.status });
        if (!query.success) throw new CliExit(`invalid option: ${query.error.issues.map((i) => i.path.join('.')).join(', ')}`, 2);
        const page = await db.transaction((trx) => listMembers(trx, cliCaller(), id, query.data));
        return wantsJson(cmd)
          ? page
          : page.items.map((m) => ({
              user_id: m.user_id,
              email: m.email,
              status: m.status,
              roles: m.roles.join(','),
              joined_at: m.joined_at,
            }));
      }),
    );

  const invitations = program.command('invitations').description('invitations to a tenant: create');
  invitations
    .command('create')
    .description('invite an email address to a tenant (mailed now; the roles are bound on acceptance)')
    .requiredOption('--tenant <id|slug>', 'the tenant')
    .requiredOption('--email <email>', 'address to invite')
    .option('--role <key>', 'role key to grant on the whole tenant (repeatable; default: member)', collect)
    .action((opts: { tenant: string; email: string; role?: string[] }, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const id = await tenantId(db, opts.tenant);
        const roleIds: string[] = [];
        for (const key of new Set(opts.role ?? [])) {
          const role = await db('roles').where({ tenant_id: id, key }).first('id');
          if (!role)
            throw new AppError('validation_failed', {
              detail: `the tenant has no role ${key}`,
              invalidParams: [{ name: 'role', reason: `unknown role ${key}` }],
            });
          roleIds.push(role.id as string);
        }
        const mailer = createMailer({ smtpUrl: rt.config.mail.smtp_url, from: rt.config.mail.from, db, logger: rt.logger });
        try {
          const mail = { mailer, issuer: rt.config.issuer, productName: 'InfraNotes', ttlSeconds: rt.config.tenancy.invitation_ttl_s };
          const input = valid(createInvitationInput, { email: opts.email, ...(roleIds.length ? { roles: roleIds } : {}) });
          return (await tenantWrite(db, id, (trx) => createInvitation(trx, cliCaller(), id, input, mail))).result;
        } finally {
          await mailer.close();
        }
      }),
    );
}
