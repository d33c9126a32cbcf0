import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { serviceEnv } from '../support/service.ts';
import { repoRoot } from '../support/services.ts';

const run = promisify(execFile);
const STRONG = 'correct horse battery staple 42';

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

const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, unknown> & { error?: { code: string; message: string } };

describe('iam users', function () {
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

  it('create (password only from the environment), list, show; duplicates and weak passwords refused', async () => {
    const created = await iam(['users', 'create', '--email', 'Ada@Example.test', '--name', 'Ada', '--password-env', 'ADA_PW', '--json'], {
      ...env,
      ADA_PW: STRONG,
    });
    expect(created.code, created.stderr).to.equal(0);
    const ada = json(created);
    expect(ada).to.include({ email: 'ada@example.test', display_name: 'Ada', status: 'active', has_password: true });
    expect(created.stdout).not.to.include(STRONG);

    const nopw = json(await iam(['users', 'create', '--email', 'nopw@example.test', '--json'], env));
    expect(nopw.has_password).to.equal(false);

    const dup = await iam(['users', 'create', '--email', 'ADA@example.TEST', '--json'], env);
    expect(dup.code).to.equal(1);
    expect(json(dup).error?.code).to.equal('conflict');

    const weak = await iam(['users', 'create', '--email', 'weak@example.test', '--password-env', 'W', '--json'], { ...env, W: 'password' });
    expect(weak.code).to.equal(1);
    expect(json(weak).error?.code).to.equal('validation_failed');
    const unset = await iam(['users', 'create', '--email', 'weak@example.test', '--password-env', 'NOT_SET_ANYWHERE', '--json'], env);
    expect(unset.code).to.equal(2);
    expect((await iam(['users', 'create', '--email', 'x@example.test', '--password', STRONG], env)).code).to.equal(2);

    const listed = JSON.parse((await iam(['users', 'list', '--email', 'example.test', '--json'], env)).stdout) as { email: string }[];
    expect(listed.map((u) => u.email)).to.deep.equal(['ada@example.test', 'nopw@example.test']);
    const human = await iam(['users', 'list', '--limit', '1'], env);
    expect(human.stdout).to.match(/^ID\s+EMAIL/);
    expect((await iam(['users', 'list', '--limit', '0', '--json'], env)).code).to.equal(2);

    const shown = json(await iam(['users', 'show', 'ADA@example.test', '--json'], env));
    expect(shown.id).to.equal(ada.id);
    const missing = await iam(['users', 'show', 'nobody@example.test', '--json'], env);
    expect(missing.code).to.equal(1);
    expect(json(missing).error?.code).to.equal('not_found');
  });

  it('set-password, disable (ends sessions and grants) and enable', async () => {
    const u = json(await iam(['users', 'create', '--email', 'grace@example.test', '--json'], env));
    const reset = await iam(['users', 'set-password', 'grace@example.test', '--password-env', 'PW', '--json'], { ...env, PW: STRONG });
    expect(reset.code, reset.stdout).to.equal(0);
    expect(json(reset).has_password).to.equal(true);
    const weak = await iam(['users', 'set-password', 'grace@example.test', '--password-env', 'PW', '--json'], { ...env, PW: 'short' });
    expect(json(weak).error?.code).to.equal('validation_failed');

    // A grant with a refresh token and an engine session, as the engine stores them.
    const grantId = 'cli-test-grant';
    await database.db('oidc_models').insert([
      { model: 'Grant', id: grantId, account_id: u.id, payload: { accountId: u.id, clientId: 'some-client', jti: grantId } },
      { model: 'RefreshToken', id: 'rt-hash', account_id: u.id, grant_id: grantId, payload: { accountId: u.id, grantId } },
      { model: 'Session', id: 'sess-1', uid: 'uid-1', account_id: u.id, payload: { accountId: u.id, uid: 'uid-1' } },
    ]);
    await database.db('user_sessions').insert({
      user_id: u.id,
      oidc_session_uid: 'uid-1',
      idle_expires_at: new Date(Date.now() + 3_600_000),
      absolute_expires_at: new Date(Date.now() + 7_200_000),
    });

    expect((await iam(['users', 'disable', String(u.id), '--json'], env)).code).to.equal(2); // --reason is required
    const disabled = await iam(['users', 'disable', String(u.id), '--reason', 'offboarded', '--json'], env);
    expect(disabled.code, disabled.stderr).to.equal(0);
    expect(json(disabled)).to.include({ changed: true, grants_revoked: 1, sessions_ended: 1, short_lived_purged: true });
    expect((json(disabled).user as { status: string }).status).to.equal('disabled');
    expect(await database.db('oidc_models').where({ account_id: u.id })).to.have.length(0);
    expect(await database.db('revoked_grants').where({ grant_id: grantId, account_id: u.id })).to.have.length(1);
    expect((await database.db('user_sessions').where({ oidc_session_uid: 'uid-1' }).first()).revoked_at).to.be.instanceOf(Date);
    const audit = await database.db('audit_events').where({ action: 'user.disabled', target_id: u.id }).first();
    expect(audit.actor_id).to.match(/^cli:/);

    const enabled = await iam(['users', 'enable', 'grace@example.test', '--json'], env);
    expect(json(enabled)).to.include({ changed: true });
    expect((json(enabled).user as { status: string }).status).to.equal('active');
    const types = (await database.db('outbox_events').where({ key: u.id }).orderBy('position')).map((e: { type: string }) => e.type);
    expect(types).to.deep.equal(['com.infranotes.iam.user.created', 'com.infranotes.iam.user.disabled', 'com.infranotes.iam.user.enabled']);
  });

  it('disable still ends everything in PostgreSQL when Redis is unreachable', async () => {
    const u = json(await iam(['users', 'create', '--email', 'hopper@example.test', '--json'], env));
    await database.db('oidc_models').insert({
      model: 'RefreshToken',
      id: 'rt-hopper',
      account_id: u.id,
      grant_id: 'grant-hopper',
      payload: { accountId: u.id, grantId: 'grant-hopper' },
    });
    const r = await iam(['users', 'disable', 'hopper@example.test', '--reason', 'test', '--json'], {
      ...env,
      IAM_REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(json(r)).to.include({ changed: true, grants_revoked: 1, short_lived_purged: false });
    expect(await database.db('oidc_models').where({ account_id: u.id })).to.have.length(0);
  });
});
