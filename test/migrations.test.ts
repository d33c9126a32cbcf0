import { readdir } from 'node:fs/promises';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { POLYFILL_MARK } from '../migrations/20261128100000_uuidv7.ts';
import { SYSTEM_TEMPLATES } from '../migrations/20261128100900_seed_authz.ts';
import { migrateLatest, migrateRollback, migrateStatus, TsMigrationSource } from '../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

/** Tables that belong to exactly one tenant: tenant_id NOT NULL, FK to tenants, an index led by tenant_id. */
const TENANT_OWNED = [
  'tenant_domains',
  'federation_connections',
  'federation_connection_domains',
  'roles',
  'role_permissions',
  'scope_bindings',
  'permission_overrides',
  'delegations',
  'delegation_roles',
  'authz_revisions',
  'memberships',
  'invitations',
  'invitation_roles',
  'workload_identities',
  'workload_credentials',
];

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function rows<T>(db: Knex, sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<T[]> {
  return ((await db.raw(sql, bindings)) as { rows: T[] }).rows;
}

async function publicTables(db: Knex): Promise<string[]> {
  const r = await rows<{ name: string }>(
    db,
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`,
  );
  return r.map((x) => x.name);
}

async function rollbackAll(db: Knex): Promise<number> {
  let batches = 0;
  for (;;) {
    const { rolledBack } = await migrateRollback(db);
    if (rolledBack.length === 0) return batches;
    batches++;
  }
}

/** Our polyfill: public.uuidv7() carrying the migration's mark (the native one lives in pg_catalog). */
async function polyfillPresent(db: Knex): Promise<boolean> {
  const [r] = await rows<{ mark: string | null }>(db, `select obj_description(to_regprocedure('public.uuidv7()'), 'pg_proc') as mark`);
  return r?.mark === POLYFILL_MARK;
}

async function expectSqlError(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect((err as { code?: string }).code, String(err)).to.equal(code);
    return;
  }
  expect.fail(`expected SQLSTATE ${code}`);
}

/** The apply / no-op / rollback / re-apply cycle every supported server must pass. */
async function applyNoopRollbackCycle(db: Knex): Promise<void> {
  const first = await migrateLatest(db);
  expect(first.applied.length).to.be.greaterThan(10);
  expect((await migrateStatus(db)).pending).to.deep.equal([]);

  const again = await migrateLatest(db);
  expect(again.applied, 'second migrateLatest applies nothing').to.deep.equal([]);

  const all = await publicTables(db);
  expect(await rollbackAll(db)).to.be.greaterThan(0);
  expect(await publicTables(db)).to.deep.equal(['knex_migrations', 'knex_migrations_lock']);
  expect((await migrateStatus(db)).applied).to.deep.equal([]);

  const reapplied = await migrateLatest(db);
  expect(reapplied.applied).to.deep.equal(first.applied);
  expect(await publicTables(db)).to.deep.equal(all);
}

describe('migrations: PostgreSQL 18 (embedded) @integration', function () {
  this.timeout(120_000);
  let t: TestDatabase;
  let db: Knex;

  before(async () => {
    t = await createTestDatabase({ migrate: false });
    db = t.db;
  });
  after(async () => {
    await t?.drop();
  });

  it('applies on an empty database with the native uuidv7() (no polyfill created)', async () => {
    const [v] = await rows<{ n: number }>(db, `select current_setting('server_version_num')::int as n`);
    expect(v?.n).to.be.at.least(180000);
    const { applied } = await migrateLatest(db);
    expect(applied[0]).to.equal('20261128100000_uuidv7.ts');
    // Every migration file, in file-name order: none skipped, none applied twice.
    const files = (await readdir(new URL('../migrations/', import.meta.url))).filter((f) => f.endsWith('.ts')).sort();
    expect(applied).to.deep.equal(files);
    expect(await polyfillPresent(db)).to.equal(false);
    const [native] = await rows<{ schema: string }>(
      db,
      `select n.nspname as schema from pg_proc p join pg_namespace n on n.oid = p.pronamespace where p.proname = 'uuidv7' and p.pronargs = 0`,
    );
    expect(native?.schema).to.equal('pg_catalog');
  });

  it('is a no-op when run again', async () => {
    expect((await migrateLatest(db)).applied).to.deep.equal([]);
    expect((await migrateStatus(db)).pending).to.deep.equal([]);
  });

  it('rolls back the last batch and re-applies it', async () => {
    await migrateLatest(db); // nothing pending; batch 1 holds everything
    const before = await publicTables(db);
    const { rolledBack } = await migrateRollback(db);
    expect(rolledBack.length).to.be.greaterThan(10);
    expect((await migrateStatus(db)).pending.length).to.equal(rolledBack.length);
    const { applied } = await migrateLatest(db);
    expect([...applied].sort()).to.deep.equal([...rolledBack].sort());
    expect(await publicTables(db)).to.deep.equal(before);
  });

  it('rolls back one batch at a time to an empty schema (one migration per batch)', async () => {
    await rollbackAll(db);
    // Re-apply with knex's migrate.up so each migration is its own batch, then unwind them one by one.
    const { pending } = await migrateStatus(db);
    for (const _ of pending) await db.migrate.up({ migrationSource: new TsMigrationSource(), tableName: 'knex_migrations' });
    const batches = new Set((await migrateStatus(db)).applied.map((a) => a.batch));
    expect(batches.size).to.equal(pending.length);
    expect(await rollbackAll(db)).to.equal(pending.length);
    expect(await publicTables(db)).to.deep.equal(['knex_migrations', 'knex_migrations_lock']);
    const leftovers = await rows<{ name: string }>(
      db,
      `select p.proname as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'
       union all select t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where n.nspname = 'public' and t.typtype <> 'c' and t.typname not like '\\_%' and t.typname not like 'knex%'`,
    );
    expect(leftovers.map((f) => f.name)).to.deep.equal([]);
    await migrateLatest(db);
  });

  it('gives every table a primary key', async () => {
    const missing = await rows<{ name: string }>(
      db,
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname not like 'knex\\_%'
          and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')`,
    );
    expect(missing.map((m) => m.name)).to.deep.equal([]);
  });

  it('makes tenant-owned tables carry tenant_id NOT NULL -> tenants, with an index led by tenant_id', async () => {
    const tables = await publicTables(db);
    for (const table of TENANT_OWNED) {
      expect(tables, table).to.include(table);
      const [col] = await rows<{ notnull: boolean; type: string }>(
        db,
        `select a.attnotnull as notnull, format_type(a.atttypid, a.atttypmod) as type
           from pg_attribute a where a.attrelid = ?::regclass and a.attname = 'tenant_id' and not a.attisdropped`,
        [table],
      );
      expect(col, `${table}.tenant_id`).to.deep.equal({ notnull: true, type: 'uuid' });
      const [fk] = await rows<{ n: number }>(
        db,
        `select count(*)::int as n from pg_constraint k
          where k.conrelid = ?::regclass and k.contype = 'f' and k.confrelid = 'tenants'::regclass
            and k.conkey = array[(select attnum from pg_attribute where attrelid = ?::regclass and attname = 'tenant_id')]::int2[]`,
        [table, table],
      );
      expect(fk?.n, `${table}: FK tenant_id -> tenants`).to.equal(1);
      const [idx] = await rows<{ n: number }>(
        db,
        `select count(*)::int as n from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
          where i.indrelid = ?::regclass and a.attname = 'tenant_id'`,
        [table],
      );
      expect(idx?.n, `${table}: index led by tenant_id`).to.be.greaterThan(0);
    }
  });

  it('uses uuidv7() defaults that produce version-7 UUIDs in creation order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const [row] = await db('tenants').insert({ slug: `order-${i}`, name: `Order ${i}` }, ['id']);
      ids.push((row as { id: string }).id);
    }
    for (const id of ids) expect(id).to.match(UUID_V7);
    expect([...ids].sort()).to.deep.equal(ids);
    const [ts] = await rows<{ skew: number }>(db, `select abs(extract(epoch from (uuid_extract_timestamp(?::uuid) - now()))) as skew`, [
      ids[0] as string,
    ]);
    expect(Number(ts?.skew)).to.be.lessThan(60);
  });

  it('seeds the permission registry and the system role templates', async () => {
    const [perms] = await rows<{ n: number }>(db, `select count(*)::int as n from permissions where key like 'iam.%'`);
    expect(perms?.n).to.be.greaterThan(10);
    const templates = await rows<{ key: string; is_system: boolean; n: number }>(
      db,
      `select t.key, t.is_system, count(p.permission_key)::int as n
         from role_templates t left join role_template_permissions p on p.template_id = t.id group by t.id order by t.key`,
    );
    const keys = templates.map((t) => t.key);
    expect(keys).to.include.members(['owner', 'admin', 'member', 'viewer']);
    for (const t of templates) expect(t.n, t.key).to.be.greaterThan(0);
    const n = (key: string) => templates.find((t) => t.key === key)?.n ?? 0;
    expect(n('owner')).to.be.greaterThan(n('admin'));
    expect(n('admin')).to.be.greaterThan(n('viewer'));
    const [ownerOnly] = await rows<{ keys: string[] }>(
      db,
      `select array_agg(p.permission_key order by p.permission_key) as keys from role_template_permissions p join role_templates t on t.id = p.template_id
        where t.key = 'owner' and p.permission_key not in (select permission_key from role_template_permissions p2 join role_templates t2 on t2.id = p2.template_id where t2.key = 'admin')`,
    );
    expect(ownerOnly?.keys).to.deep.equal(['iam.ownership.transfer', 'iam.tenants.delete']);
    const [platform] = await rows<{ n: number }>(
      db,
      `select count(*)::int as n from role_template_permissions p join permissions k on k.key = p.permission_key where k.platform_only`,
    );
    expect(platform?.n, 'platform-only permissions stay out of tenant templates').to.equal(0);
    expect(SYSTEM_TEMPLATES.map((t) => t.key).sort()).to.deep.equal([...keys].sort());
  });

  describe('audit_events', () => {
    const event = (tenantId: string | null, action: string) => ({
      tenant_id: tenantId,
      actor_type: 'user',
      actor_id: 'u-1',
      action,
      target_type: 'user',
      target_id: 'u-2',
      outcome: 'success',
      ip: '203.0.113.7',
      details: { note: 'naïve ✓', n: 1 },
    });
    let tenantId: string;

    before(async () => {
      const [row] = await db('tenants').insert({ slug: 'audit-co', name: 'Audit Co' }, ['id']);
      tenantId = (row as { id: string }).id;
      await db('audit_events').insert([event(tenantId, 'tenant.member.added'), event(tenantId, 'auth.login.password')]);
      await db('audit_events').insert(event(null, 'platform.key.rotated'));
      await db('audit_events').insert(event(tenantId, 'auth.logout'));
    });

    it('chains events per tenant with gapless sequence numbers, ignoring writer-supplied hashes', async () => {
      const chain = await rows<{ chain_seq: number; prev_hash: Buffer; hash: Buffer }>(
        db,
        'select chain_seq, prev_hash, hash from audit_events where tenant_id = ? order by chain_seq',
        [tenantId],
      );
      expect(chain.map((c) => c.chain_seq)).to.deep.equal([1, 2, 3]);
      expect(chain[0]?.prev_hash.equals(Buffer.alloc(32))).to.equal(true);
      expect(chain[1]?.prev_hash.equals(chain[0]?.hash as Buffer)).to.equal(true);
      expect(chain[2]?.prev_hash.equals(chain[1]?.hash as Buffer)).to.equal(true);
      const [platform] = await rows<{ chain_seq: number }>(db, 'select chain_seq from audit_events where tenant_id is null');
      expect(platform?.chain_seq).to.equal(1);

      const forged = {
        ...event(tenantId, 'auth.login.password'),
        prev_hash: Buffer.alloc(32, 1),
        hash: Buffer.alloc(32, 2),
        chain_seq: 99,
      };
      const [row] = await db('audit_events').insert(forged, ['chain_seq', 'hash']);
      expect((row as { chain_seq: number }).chain_seq).to.equal(4);
      expect((row as { hash: Buffer }).hash.equals(Buffer.alloc(32, 2))).to.equal(false);
      const [ok] = await rows<{ ok: boolean; events: number }>(db, 'select * from iam_audit_verify_chain(?)', [tenantId]);
      expect(ok).to.include({ ok: true, events: 4 });
    });

    it('keeps one linear chain under 32 concurrent writers', async () => {
      const [row] = await db('tenants').insert({ slug: 'busy-co', name: 'Busy Co' }, ['id']);
      const busy = (row as { id: string }).id;
      await Promise.all(Array.from({ length: 32 }, (_, i) => db('audit_events').insert(event(busy, `auth.login.n${i}`))));
      const [v] = await rows<{ ok: boolean; events: number }>(db, 'select * from iam_audit_verify_chain(?)', [busy]);
      expect(v).to.include({ ok: true, events: 32 });
    });

    it('rejects UPDATE, DELETE and TRUNCATE, also in replica mode', async () => {
      await expectSqlError(db('audit_events').update({ outcome: 'failure' }).where({ tenant_id: tenantId }), '42501');
      await expectSqlError(db('audit_events').delete().where({ tenant_id: tenantId }), '42501');
      await expectSqlError(db.raw('truncate audit_events'), '42501');
      await expectSqlError(db('audit_chain_heads').delete(), '42501');
      await db.transaction(async (trx) => {
        await trx.raw(`set local session_replication_role = replica`);
        await expectSqlError(trx('audit_events').delete().where({ tenant_id: tenantId }), '42501');
      });
      const [n] = await rows<{ n: number }>(db, 'select count(*)::int as n from audit_events where tenant_id = ?', [tenantId]);
      expect(n?.n).to.equal(4);
    });

    it('detects tampering by someone who bypasses the triggers', async () => {
      // Each scenario runs in a transaction that is rolled back (ALTER TABLE is transactional).
      const tamper = async (fn: (trx: Knex.Transaction) => Promise<void>) => {
        const undo = new Error('undo');
        await db
          .transaction(async (trx) => {
            await trx.raw('alter table audit_events disable trigger audit_events_no_update_delete');
            await fn(trx);
            throw undo;
          })
          .catch((err: unknown) => {
            if (err !== undo) throw err;
          });
      };
      const verify = async (q: Knex) =>
        (
          await rows<{ ok: boolean; events: number; broken_seq: number | null; problem: string | null }>(
            q,
            'select * from iam_audit_verify_chain(?)',
            [tenantId],
          )
        )[0];

      await tamper(async (trx) => {
        await trx('audit_events')
          .update({ details: { note: 'edited' } })
          .where({ tenant_id: tenantId, chain_seq: 2 });
        expect(await verify(trx)).to.include({ ok: false, broken_seq: 2, problem: 'event content does not match its hash' });
      });
      await tamper(async (trx) => {
        await trx('audit_events').delete().where({ tenant_id: tenantId, chain_seq: 2 });
        expect(await verify(trx)).to.include({ ok: false, broken_seq: 2, problem: 'missing event (sequence gap)' });
      });
      await tamper(async (trx) => {
        await trx('audit_events').delete().where({ tenant_id: tenantId, chain_seq: 4 });
        expect(await verify(trx)).to.include({ ok: false, events: 3, problem: 'chain head does not match the last event (tail removed)' });
      });
      expect(await verify(db)).to.include({ ok: true, events: 4 });
    });
  });

  describe('constraints and triggers', () => {
    let tenantA: string;
    let tenantB: string;
    let userId: string;

    before(async () => {
      const [a] = await db('tenants').insert({ slug: 'tenant-a', name: 'A' }, ['id']);
      const [b] = await db('tenants').insert({ slug: 'tenant-b', name: 'B' }, ['id']);
      const [u] = await db('users').insert({ email: 'Ada@Example.com' }, ['id']);
      tenantA = (a as { id: string }).id;
      tenantB = (b as { id: string }).id;
      userId = (u as { id: string }).id;
    });

    it('rejects RFC 9700-forbidden grants and response types on clients', async () => {
      await expectSqlError(db('oauth_clients').insert({ client_id: 'legacy', name: 'x', grant_types: ['implicit'] }), '23514');
      await expectSqlError(db('oauth_clients').insert({ client_id: 'legacy', name: 'x', grant_types: ['password'] }), '23514');
      await expectSqlError(db('oauth_clients').insert({ client_id: 'legacy', name: 'x', response_types: ['token'] }), '23514');
      await db('oauth_clients').insert({ client_id: 'web-app', name: 'Web', redirect_uris: ['https://app.example/cb'] });
    });

    it('keeps emails unique case-insensitively', async () => {
      await expectSqlError(db('users').insert({ email: 'ada@example.COM' }), '23505');
    });

    it('refuses cross-tenant references (a binding in B to a role of A)', async () => {
      const [role] = await db('roles').insert({ tenant_id: tenantA, key: 'editor', name: 'Editor' }, ['id']);
      const roleId = (role as { id: string }).id;
      await expectSqlError(
        db('scope_bindings').insert({
          tenant_id: tenantB,
          role_id: roleId,
          principal_type: 'user',
          principal_id: userId,
          scope_type: 'tenant',
          scope_id: tenantB,
        }),
        '23503',
      );
      await expectSqlError(
        db('scope_bindings').insert({
          tenant_id: tenantA,
          role_id: roleId,
          principal_type: 'user',
          principal_id: userId,
          scope_type: 'tenant',
          scope_id: tenantB,
        }),
        '23514',
      );
      await expectSqlError(
        db('permission_overrides').insert({
          tenant_id: tenantA,
          principal_type: 'user',
          principal_id: userId,
          permission_key: 'iam.members.manage',
          effect: 'deny',
          scope_type: 'tenant',
          scope_id: tenantA,
          reason: '  ',
        }),
        '23514',
      );
    });

    it('bumps the tenant authz revision on every authz write, and tenant deletion cascades cleanly', async () => {
      const revision = async () =>
        Number((await db('authz_revisions').where({ tenant_id: tenantA }).first<{ revision: string } | undefined>())?.revision ?? 0);
      const r0 = await revision();
      const [role] = await db('roles').insert({ tenant_id: tenantA, key: 'ops', name: 'Ops' }, ['id']);
      const roleId = (role as { id: string }).id;
      await db('role_permissions').insert({ tenant_id: tenantA, role_id: roleId, permission_key: 'iam.members.read' });
      await db('memberships').insert({ tenant_id: tenantA, user_id: userId });
      await db('scope_bindings').insert({
        tenant_id: tenantA,
        role_id: roleId,
        principal_type: 'user',
        principal_id: userId,
        scope_type: 'project',
        scope_id: 'prj_1',
      });
      expect(await revision()).to.equal(r0 + 4);
      await db('tenants').update({ status: 'suspended' }).where({ id: tenantA });
      expect(await revision()).to.equal(r0 + 5);
      await db('tenants').update({ name: 'A renamed' }).where({ id: tenantA });
      expect(await revision()).to.equal(r0 + 5);

      await db('tenants').delete().where({ id: tenantA });
      for (const table of ['roles', 'role_permissions', 'scope_bindings', 'memberships', 'authz_revisions']) {
        const [n] = await rows<{ n: number }>(db, `select count(*)::int as n from ${table} where tenant_id = ?`, [tenantA]);
        expect(n?.n, table).to.equal(0);
      }
    });
  });
});

describe('migrations: PostgreSQL 15 (IAM_TEST_PG15_URL) @integration', function () {
  this.timeout(120_000);
  let t: TestDatabase | undefined;

  before(async function () {
    const adminUrl = process.env.IAM_TEST_PG15_URL;
    if (!adminUrl) this.skip();
    t = await createTestDatabase({ adminUrl, migrate: false });
  });
  after(async () => {
    await t?.drop();
  });

  it('creates the uuidv7() polyfill and passes the apply / no-op / rollback cycle', async () => {
    const db = (t as TestDatabase).db;
    const [v] = await rows<{ n: number }>(db, `select current_setting('server_version_num')::int as n`);
    expect(v?.n).to.be.lessThan(180000);

    await applyNoopRollbackCycle(db);
    expect(await polyfillPresent(db)).to.equal(true);

    const gen = await rows<{ id: string; ms: string }>(
      db,
      `select id::text as id, (extract(epoch from clock_timestamp()) * 1000)::bigint::text as ms from (select uuidv7() as id from generate_series(1, 500)) s`,
    );
    const ids = gen.map((g) => g.id);
    for (const id of ids) expect(id).to.match(UUID_V7);
    expect(new Set(ids).size).to.equal(ids.length);
    // The 60-bit time prefix (ms + version + sub-ms fraction) never goes backwards within one backend.
    const prefixes = ids.map((id) => id.replaceAll('-', '').slice(0, 15));
    expect([...prefixes].sort(), 'time-ordered within one backend').to.deep.equal(prefixes);
    const tsMs = Number.parseInt((ids[0] as string).replaceAll('-', '').slice(0, 12), 16);
    expect(Math.abs(tsMs - Number(gen[0]?.ms))).to.be.lessThan(5_000);

    const [row] = await db('tenants').insert({ slug: 'pg15', name: 'PG 15' }, ['id']);
    expect((row as { id: string }).id).to.match(UUID_V7);
    await db('audit_events').insert({ actor_type: 'system', action: 'test.ping', outcome: 'success' });
    const [ok] = await rows<{ ok: boolean }>(db, `select * from iam_audit_verify_chain('00000000-0000-0000-0000-000000000000')`);
    expect(ok?.ok).to.equal(true);

    await rollbackAll(db);
    expect(await polyfillPresent(db)).to.equal(false);
    const [fn] = await rows<{ present: boolean }>(db, `select to_regprocedure('uuidv7()') is not null as present`);
    expect(fn?.present, 'full rollback removes the polyfill').to.equal(false);
  });

  it('leaves a uuidv7() it did not create alone', async () => {
    const other = await createTestDatabase({ adminUrl: process.env.IAM_TEST_PG15_URL, migrate: false });
    try {
      await other.db.raw(`create function public.uuidv7() returns uuid language sql volatile as $$ select gen_random_uuid() $$`);
      await migrateLatest(other.db);
      expect(await polyfillPresent(other.db)).to.equal(false);
      await rollbackAll(other.db);
      const [fn] = await rows<{ present: boolean }>(other.db, `select to_regprocedure('public.uuidv7()') is not null as present`);
      expect(fn?.present, 'a foreign uuidv7() survives rollback').to.equal(true);
    } finally {
      await other.drop();
    }
  });
});
