import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { serviceEnv } from '../support/service.ts';
import { repoRoot } from '../support/services.ts';

const run = promisify(execFile);

/** Runs the CLI as an operator would; resolves with the exit code and both streams. */
async function iam(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/iam.js', ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// biome-ignore lint/suspicious/noExplicitAny: CLI JSON output, asserted field by field
type Json = Record<string, any> & { error?: { code: string; message: string } };
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Json;

describe('iam tenants, members, invitations', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let env: Record<string, string>;

  before(async () => {
    database = await createTestDatabase({ migrate: true });
    env = serviceEnv(database);
  });
  after(async () => {
    await database?.drop();
  });

  async function tenantWithOwner(slug: string, email: string): Promise<Json> {
    expect((await iam(['users', 'create', '--email', email, '--json'], env)).code).to.equal(0);
    const created = await iam(['tenants', 'create', '--name', `Tenant ${slug}`, '--slug', slug, '--owner-email', email, '--json'], env);
    expect(created.code, created.stdout + created.stderr).to.equal(0);
    return json(created);
  }

  it('create: system roles, the owner (an existing user) bound as owner, audited as the CLI; bad input refused', async () => {
    const db = database.db;
    const noOwner = await iam(['tenants', 'create', '--name', 'Acme', '--slug', 'acme', '--owner-email', 'olive@acme.test', '--json'], env);
    expect(noOwner.code).to.equal(1);
    expect(json(noOwner).error).to.deep.include({ code: 'validation_failed' });
    expect(json(noOwner).error?.message).to.include('iam users create --email olive@acme.test');
    expect(await db('tenants').where({ slug: 'acme' }).first()).to.equal(undefined);

    const acme = await tenantWithOwner('acme', 'Olive@Acme.test');
    expect(acme).to.include({ slug: 'acme', name: 'Tenant acme', status: 'active' });
    expect(acme.owner.email).to.equal('olive@acme.test');
    const roles = await db('roles').where({ tenant_id: acme.id, is_system: true }).orderBy('key').pluck('key');
    expect(roles).to.include.members(['admin', 'member', 'owner', 'viewer']);
    const owner = await db('scope_bindings as b')
      .join('roles as r', 'r.id', 'b.role_id')
      .where({ 'b.tenant_id': acme.id, 'b.principal_id': acme.owner.id })
      .pluck('r.key');
    expect(owner).to.deep.equal(['owner']);
    const audit = await db('audit_events')
      .where({ tenant_id: acme.id, action: 'tenant.created' })
      .first('actor_type', 'actor_id', 'details');
    expect(audit.actor_type).to.equal('system');
    expect(audit.actor_id).to.match(/^cli:/);
    expect(audit.details).to.include({ platform_admin: true, slug: 'acme' });
    const events = await db('outbox_events').where({ tenant_id: acme.id }).pluck('type');
    expect(events).to.include.members(['com.infranotes.iam.tenant.created', 'com.infranotes.iam.membership.added']);

    const dup = await iam(['tenants', 'create', '--name', 'Again', '--slug', 'acme', '--owner-email', 'olive@acme.test', '--json'], env);
    expect(dup.code).to.equal(1);
    expect(json(dup).error?.code).to.equal('conflict');
    const bad = await iam(
      ['tenants', 'create', '--name', 'Bad', '--slug', 'Not A Slug', '--owner-email', 'olive@acme.test', '--json'],
      env,
    );
    expect(bad.code).to.equal(1);
    expect(json(bad).error?.code).to.equal('validation_failed');
    expect((await iam(['tenants', 'create', '--name', 'x', '--slug', 'x'], env)).code).to.equal(2);
  });

  it('list, show, suspend, resume, delete and restore, by id or slug', async () => {
    const globex = await tenantWithOwner('globex', 'gale@globex.test');
    const list = json(await iam(['tenants', 'list', '--json'], env));
    expect(list.items.map((t: Json) => t.slug)).to.include('globex');
    const human = await iam(['tenants', 'list'], env);
    expect(human.stdout).to.match(/^ID\s+SLUG\s+NAME\s+STATUS/);
    expect((await iam(['tenants', 'list', '--limit', '0'], env)).code).to.equal(2);

    expect(json(await iam(['tenants', 'show', 'globex', '--json'], env)).id).to.equal(globex.id);
    const suspended = json(await iam(['tenants', 'suspend', globex.id, '--reason', 'unpaid', '--json'], env));
    expect(suspended).to.include({ status: 'suspended', status_reason: 'unpaid' });
    const twice = await iam(['tenants', 'suspend', 'globex', '--json'], env);
    expect(twice.code).to.equal(1);
    expect(json(twice).error?.code).to.equal('conflict');
    expect(json(await iam(['tenants', 'list', '--status', 'suspended', '--json'], env)).items.map((t: Json) => t.id)).to.deep.equal([
      globex.id,
    ]);
    expect(json(await iam(['tenants', 'resume', 'globex', '--json'], env)).status).to.equal('active');

    const deleted = json(await iam(['tenants', 'delete', 'globex', '--reason', 'closed', '--json'], env));
    expect(deleted.status).to.equal('deleted');
    expect(new Date(deleted.purge_after).getTime()).to.be.greaterThan(Date.now());
    expect(json(await iam(['tenants', 'show', 'globex', '--json'], env)).status).to.equal('deleted');
    expect(json(await iam(['tenants', 'resume', 'globex', '--json'], env)).status).to.equal('active');
    const actions = await database.db('audit_events').where({ tenant_id: globex.id }).orderBy('chain_seq').pluck('action');
    expect(actions).to.include.members(['tenant.suspended', 'tenant.resumed', 'tenant.deleted', 'tenant.restored']);

    const missing = await iam(['tenants', 'show', 'no-such-tenant', '--json'], env);
    expect(missing.code).to.equal(1);
    expect(json(missing).error?.code).to.equal('not_found');
  });

  it('members list and invitations create (mailed, roles by key, default member)', async () => {
    const initech = await tenantWithOwner('initech', 'bill@initech.test');
    const members = json(await iam(['members', 'list', '--tenant', 'initech', '--json'], env));
    expect(members.items).to.have.length(1);
    expect(members.items[0]).to.include({ user_id: initech.owner.id, email: 'bill@initech.test', status: 'active' });
    expect(members.items[0].roles).to.deep.equal(['owner']);
    expect((await iam(['members', 'list', '--tenant', 'initech'], env)).stdout).to.match(/^USER_ID\s+EMAIL/);

    const invited = await iam(
      ['invitations', 'create', '--tenant', 'initech', '--email', 'peter@initech.test', '--role', 'admin', '--role', 'viewer', '--json'],
      env,
    );
    expect(invited.code, invited.stdout + invited.stderr).to.equal(0);
    const invitation = json(invited);
    expect(invitation).to.include({ email: 'peter@initech.test', status: 'pending', invited_by: null });
    expect(invitation.roles.map((r: Json) => r.key)).to.deep.equal(['admin', 'viewer']);
    const mail = await database.db('dev_mailbox').where({ to: 'peter@initech.test' }).first('text');
    expect(mail?.text).to.match(/\/invitations\/accept\?token=[A-Za-z0-9_-]{43}/);
    const audit = await database.db('audit_events').where({ tenant_id: initech.id, action: 'invitation.created' }).first('actor_type');
    expect(audit.actor_type).to.equal('system');

    const plain = json(await iam(['invitations', 'create', '--tenant', initech.id, '--email', 'milton@initech.test', '--json'], env));
    expect(plain.roles.map((r: Json) => r.key)).to.deep.equal(['member']);
    const again = await iam(['invitations', 'create', '--tenant', 'initech', '--email', 'PETER@initech.test', '--json'], env);
    expect(json(again).error?.code).to.equal('conflict');
    const unknownRole = await iam(
      ['invitations', 'create', '--tenant', 'initech', '--email', 'x@initech.test', '--role', 'boss', '--json'],
      env,
    );
    expect(unknownRole.code).to.equal(1);
    expect(json(unknownRole).error?.code).to.equal('validation_failed');
    const badEmail = await iam(['invitations', 'create', '--tenant', 'initech', '--email', 'not-an-address', '--json'], env);
    expect(json(badEmail).error?.code).to.equal('validation_failed');
    expect(await database.db('invitations').where({ tenant_id: initech.id }).pluck('email')).to.have.members([
      'peter@initech.test',
      'milton@initech.test',
    ]);
  });
});
