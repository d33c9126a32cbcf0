import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { freePort } from '../support/process.ts';
import { serviceEnv, TEST_KEK } from '../support/service.ts';
import { portOpen, repoRoot } from '../support/services.ts';

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

describe('iam CLI', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let env: Record<string, string>;

  before(async () => {
    database = await createTestDatabase({ migrate: false });
    env = serviceEnv(database);
  });
  after(async () => {
    await database?.drop();
  });

  it('config print --json prints exactly one JSON document with secrets redacted', async () => {
    const r = await iam(['config', 'print', '--json', '--sources'], { ...env, IAM_SERVER_HTTP_PORT: '9123' });
    expect(r.code).to.equal(0);
    const doc = JSON.parse(r.stdout) as {
      config: { server: { http_port: number }; keys: { kek: string } };
      sources: Record<string, string>;
    };
    expect(doc.config.server.http_port).to.equal(9123);
    expect(doc.sources['server.http_port']).to.equal('env IAM_SERVER_HTTP_PORT');
    expect(doc.config.keys.kek).to.equal('[redacted]');
    expect(r.stdout).not.to.include(TEST_KEK);
  });

  it('migrate, migrate status and migrate rollback operate on the configured database', async () => {
    const before = JSON.parse((await iam(['migrate', 'status', '--json'], env)).stdout) as { applied: unknown[]; pending: string[] };
    expect(before.applied).to.have.length(0);
    expect(before.pending.length).to.be.greaterThan(5);

    const applied = JSON.parse((await iam(['migrate', '--json'], env)).stdout) as { batch: number; applied: string[] };
    expect(applied.applied).to.deep.equal(before.pending);
    const again = JSON.parse((await iam(['migrate', '--json'], env)).stdout) as { applied: string[] };
    expect(again.applied).to.deep.equal([]);

    const rolled = JSON.parse((await iam(['migrate', 'rollback', '--json'], env)).stdout) as { rolled_back: string[] };
    expect(rolled.rolled_back).to.have.length(before.pending.length);
    const after = JSON.parse((await iam(['migrate', 'status', '--json'], env)).stdout) as { pending: string[] };
    expect(after.pending).to.deep.equal(before.pending);
    await iam(['migrate', '--json'], env);
  });

  it('audit verify reports intact chains, and exits 1 naming the broken link after tampering', async () => {
    await iam(['migrate', '--json'], env);
    const db = database.db;
    await db.transaction(async (trx) => {
      for (const action of ['test.first', 'test.second', 'test.third']) {
        await trx('audit_events').insert({ actor_type: 'system', actor_id: 'cli-test', action, outcome: 'success' });
      }
    });
    const ok = await iam(['audit', 'verify', '--json'], env);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout)).to.include({ ok: true });

    await db.raw('alter table audit_events disable trigger audit_events_no_update_delete');
    await db('audit_events').where({ action: 'test.second' }).update({ actor_id: 'someone-else' });
    await db.raw('alter table audit_events enable always trigger audit_events_no_update_delete');
    const broken = await iam(['audit', 'verify', '--json'], env);
    expect(broken.code).to.equal(1);
    const report = JSON.parse(broken.stdout) as { ok: boolean; chains: { ok: boolean; problem: string | null }[] };
    expect(report.ok).to.equal(false);
    expect(report.chains.find((c) => !c.ok)?.problem).to.match(/does not match its hash/);

    const exported = await iam(['audit', 'export', '--json', '--limit', '2'], env);
    expect(JSON.parse(exported.stdout)).to.have.length(2);
  });

  it('errors are one JSON document too, with a non-zero exit', async () => {
    const r = await iam(['config', 'print', '--json'], { ...env, IAM_SERVER_HTTP_PORT: 'nope' });
    expect(r.code).to.equal(78);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(doc.error.code).to.equal('config_invalid');
    expect(doc.error.message).to.match(/server\.http_port/);
  });

  it('starts the embedded PostgreSQL for a command when no server runs, and stops it afterwards', async () => {
    const port = await freePort();
    const embeddedEnv = {
      IAM_DATA_DIR: mkdtempSync(join(tmpdir(), 'iam-cli-embedded-')),
      IAM_DATABASE_URL: '',
      IAM_DATABASE_EMBEDDED_PORT: String(port),
      IAM_KEYS_KEK: TEST_KEK,
      IAM_LOG_LEVEL: 'warn',
    };
    const r = await iam(['migrate', '--json'], embeddedEnv);
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { applied: string[] }).applied.length).to.be.greaterThan(5);
    expect(await portOpen(`127.0.0.1:${port}`)).to.equal(false);
  });
});
