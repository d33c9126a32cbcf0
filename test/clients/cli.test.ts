import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { serviceEnv } from '../support/service.ts';
import { repoRoot } from '../support/services.ts';
import { everythingStored } from './support.ts';

const run = promisify(execFile);

async function iam(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/iam.js', ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface ClientDoc {
  client_id: string;
  client_secret?: string;
  name: string;
  tenant_id: string | null;
  status: string;
  version: string;
  redirect_uris: string[];
  grant_types: string[];
  first_party: boolean;
  changed?: string[];
  secrets?: { state: string; hint: string }[];
}

describe('iam clients CLI', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let env: Record<string, string>;

  before(async () => {
    database = await createTestDatabase();
    env = serviceEnv(database);
  });
  after(async () => {
    await database?.drop();
  });

  const json = async <T>(args: string[]) => {
    const r = await iam([...args, '--json'], env);
    expect(r.code, r.stderr || r.stdout).to.equal(0);
    return JSON.parse(r.stdout) as T;
  };

  it('create prints the client with its one-time secret; show, list, update, rotate-secret and delete follow', async () => {
    const created = await json<ClientDoc>([
      'clients',
      'create',
      '--name',
      'web',
      '--grant-types',
      'authorization_code,refresh_token',
      '--redirect-uris',
      'https://app.example/cb',
      '--post-logout-redirect-uris',
      'https://app.example/',
      '--first-party',
      '--scopes',
      'openid,profile,offline_access',
      '--resources',
      'https://api.example.test',
      '--access-token-format',
      'opaque',
    ]);
    expect(created.client_secret).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(created).to.include({ name: 'web', first_party: true, status: 'active', tenant_id: null });
    expect(created.redirect_uris).to.deep.equal(['https://app.example/cb']);
    expect(await everythingStored(database.db)).not.to.include(created.client_secret);

    const shown = await json<ClientDoc>(['clients', 'show', created.client_id]);
    expect(shown).not.to.have.property('client_secret');
    expect(shown.secrets?.map((s) => s.state)).to.deep.equal(['active']);
    expect(shown.secrets?.[0]?.hint).to.equal(created.client_secret?.slice(-4));

    const listed = await json<ClientDoc[]>(['clients', 'list']);
    expect(listed.map((c) => c.client_id)).to.include(created.client_id);

    const updated = await json<ClientDoc>([
      'clients',
      'update',
      created.client_id,
      '--name',
      'web 2',
      '--no-first-party',
      '--redirect-uris',
      'https://app.example/cb,https://app.example/cb2',
      '--if-version',
      shown.version,
    ]);
    expect(updated.changed).to.deep.equal(['name', 'first_party', 'redirect_uris']);
    expect(updated).to.include({ name: 'web 2', first_party: false });

    const stale = await iam(['clients', 'update', created.client_id, '--name', 'web 3', '--if-version', shown.version, '--json'], env);
    expect(stale.code).to.equal(1);
    expect((JSON.parse(stale.stdout) as { error: { code: string } }).error.code).to.equal('precondition_failed');

    const rotated = await json<{ client_id: string; client_secret: string; overlap_seconds: number; previous_secrets: unknown[] }>([
      'clients',
      'rotate-secret',
      created.client_id,
      '--overlap',
      '0',
    ]);
    expect(rotated.client_secret)
      .to.match(/^[A-Za-z0-9_-]{43}$/)
      .and.not.equal(created.client_secret);
    expect(rotated.overlap_seconds).to.equal(0);
    expect(rotated.previous_secrets).to.have.length(1);
    expect((await json<ClientDoc>(['clients', 'show', created.client_id])).secrets?.map((s) => s.state)).to.deep.equal([
      'active',
      'revoked',
    ]);

    const def = await json<{ overlap_seconds: number }>(['clients', 'rotate-secret', created.client_id]);
    expect(def.overlap_seconds).to.equal(86_400);

    expect(await json(['clients', 'delete', created.client_id])).to.deep.equal({ client_id: created.client_id, deleted: true });
    const gone = await iam(['clients', 'show', created.client_id, '--json'], env);
    expect(gone.code).to.equal(1);
    expect((JSON.parse(gone.stdout) as { error: { code: string } }).error.code).to.equal('not_found');
  });

  it('public clients get no secret; --tenant takes a slug', async () => {
    const [tenant] = await database.db('tenants').insert({ slug: 'acme', name: 'Acme' }).returning('id');
    const spa = await json<ClientDoc>([
      'clients',
      'create',
      '--name',
      'spa',
      '--tenant',
      'acme',
      '--token-endpoint-auth-method',
      'none',
      '--redirect-uris',
      'http://localhost:5173/cb',
    ]);
    expect(spa).not.to.have.property('client_secret');
    expect(spa.tenant_id).to.equal(tenant.id);
    expect((await json<ClientDoc[]>(['clients', 'list', '--tenant', 'acme'])).map((c) => c.client_id)).to.deep.equal([spa.client_id]);
    expect((await json<ClientDoc[]>(['clients', 'list', '--tenant', tenant.id])).map((c) => c.client_id)).to.deep.equal([spa.client_id]);
    expect((await json<ClientDoc[]>(['clients', 'list', '--platform'])).map((c) => c.client_id)).not.to.include(spa.client_id);

    const rot = await iam(['clients', 'rotate-secret', spa.client_id, '--json'], env);
    expect(rot.code).to.equal(1);
    expect((JSON.parse(rot.stdout) as { error: { message: string } }).error.message).to.match(/authenticates with none/);
  });

  it('bad input is one JSON error with a non-zero exit', async () => {
    const cases: [string[], number, string, RegExp][] = [
      [['clients', 'create', '--name', 'x', '--redirect-uris', 'http://evil.example/cb'], 1, 'validation_failed', /loopback/],
      [['clients', 'create', '--name', 'x', '--redirect-uris', 'https://app.example/cb#x'], 1, 'validation_failed', /fragment/],
      [['clients', 'create', '--name', 'x', '--grant-types', 'implicit'], 1, 'validation_failed', /implicit grant is not allowed/],
      [['clients', 'create', '--name', 'x', '--grant-types', 'password'], 1, 'validation_failed', /password grant is not allowed/],
      [
        ['clients', 'create', '--name', 'x', '--grant-types', 'client_credentials', '--token-endpoint-auth-method', 'client_secret_jwt'],
        1,
        'validation_failed',
        /client_secret_jwt/,
      ],
      [['clients', 'create', '--name', 'x', '--tenant', 'nope'], 2, 'failed', /no tenant/],
      [['clients', 'rotate-secret', 'whatever', '--overlap', 'soon'], 2, 'failed', /not a duration/],
      [['clients', 'rotate-secret', 'whatever', '--overlap', '31d'], 2, 'failed', /at most 30d/],
      [['clients', 'update', 'whatever'], 2, 'failed', /nothing to update/],
      [['clients', 'update', 'whatever', '--disable', '--enable'], 2, 'failed', /exclude each other/],
      [['clients', 'delete', 'no-such-client'], 1, 'not_found', /not found/],
    ];
    for (const [args, exit, code, message] of cases) {
      const r = await iam([...args, '--json'], env);
      expect(r.code, args.join(' ')).to.equal(exit);
      const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(doc.error.code, args.join(' ')).to.equal(code);
      expect(doc.error.message, args.join(' ')).to.match(message);
    }
    expect(await database.db('oauth_clients').where({ name: 'x' }).first()).to.equal(undefined);
  });

  it('human output says the secret is shown once', async () => {
    const r = await iam(['clients', 'create', '--name', 'svc', '--grant-types', 'client_credentials'], env);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/client_secret: \S{43}/);
    expect(r.stdout).to.match(/shown only now/);
    const table = await iam(['clients', 'list'], env);
    expect(table.stdout.split('\n')[0]).to.match(/^CLIENT_ID\s+NAME\s+TENANT_ID\s+STATUS/);
  });
});
