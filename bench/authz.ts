// Check API scenarios (issue 5, ADR-0016): the data they need and the requests they send.
// The caller is a workload (client_credentials token for IAM's own API audience, `tid` from its
// client's tenant) holding iam.authz.check; the principals checked are members bound at team scope.
// Tenant, members, roles and bindings are written straight to the service's database (the
// write-side admin API is not what is measured here); the client itself is created with the CLI.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { childEnv } from './processes.ts';
import type { Target } from './scenarios.ts';
import { connectServiceDb } from './service-db.ts';
import type { IamCli } from './targets.ts';

const run = promisify(execFile);

/** Principals whose snapshots stay cached (well below IAM_AUTHZ_CACHE_MAX_ENTRIES in the bench env). */
export const CACHED_PRINCIPALS = 50;
/** Cycled through a cache of AUTHZ_CACHE_ENTRIES: every check reads its principal's grants from PostgreSQL. */
export const UNCACHED_PRINCIPALS = 2000;
/** Set as IAM_AUTHZ_CACHE_MAX_ENTRIES for the service under test (the configuration's minimum). */
export const AUTHZ_CACHE_ENTRIES = 100;

export interface AuthzTarget {
  authorization: string;
  cached: string[];
  uncached: string[];
  /** The same checks as gRPC requests (iam.v1.AuthorizationService/Check), and where to send them. */
  grpc?: { address: string; token: string; cached: unknown[]; uncached: unknown[] };
}

const PERMISSIONS = ['iam.members.read', 'iam.roles.read', 'iam.bindings.read'];

async function seed(c: pg.Client, clientId: string): Promise<{ tenantId: string; users: string[] }> {
  await c.query('begin');
  try {
    const tenant = await c.query<{ id: string }>(`insert into tenants (slug, name) values ('bench-authz', 'Bench') returning id`);
    const tenantId = tenant.rows[0]?.id as string;
    const checker = await c.query<{ id: string }>(
      `insert into roles (tenant_id, key, name) values ($1, 'checker', 'Checker') returning id`,
      [tenantId],
    );
    const editor = await c.query<{ id: string }>(`insert into roles (tenant_id, key, name) values ($1, 'editor', 'Editor') returning id`, [
      tenantId,
    ]);
    await c.query(`insert into role_permissions (tenant_id, role_id, permission_key) values ($1, $2, 'iam.authz.check')`, [
      tenantId,
      checker.rows[0]?.id,
    ]);
    for (const p of PERMISSIONS) {
      await c.query('insert into role_permissions (tenant_id, role_id, permission_key) values ($1, $2, $3)', [
        tenantId,
        editor.rows[0]?.id,
        p,
      ]);
    }
    const client = await c.query<{ id: string }>('update oauth_clients set tenant_id = $1 where client_id = $2 returning id', [
      tenantId,
      clientId,
    ]);
    const workload = await c.query<{ id: string }>(
      `insert into workload_identities (tenant_id, name, sub, oauth_client_id) values ($1, 'bench-checker', 'workload:bench-checker', $2) returning id`,
      [tenantId, client.rows[0]?.id],
    );
    await c.query(
      `insert into scope_bindings (tenant_id, role_id, principal_type, principal_id, scope_type, scope_id) values ($1::uuid, $2, 'workload', $3, 'tenant', $1::text)`,
      [tenantId, checker.rows[0]?.id, workload.rows[0]?.id],
    );
    // Members: each bound at its team (and, every 4th, at the tenant too), every 5th with a deny override.
    const users = await c.query<{ id: string }>(
      `insert into users (email) select 'bench-' || g || '@bench.example' from generate_series(1, $1) g returning id`,
      [UNCACHED_PRINCIPALS],
    );
    const ids = users.rows.map((r) => r.id);
    await c.query(`insert into memberships (tenant_id, user_id) select $1, unnest($2::uuid[])`, [tenantId, ids]);
    await c.query(
      `insert into scope_bindings (tenant_id, role_id, principal_type, principal_id, scope_type, scope_id)
       select $1, $2, 'user', u, 'team', 'team-' || (o % 10) from unnest($3::uuid[]) with ordinality as x(u, o)`,
      [tenantId, editor.rows[0]?.id, ids],
    );
    await c.query(
      `insert into scope_bindings (tenant_id, role_id, principal_type, principal_id, scope_type, scope_id)
       select $1::uuid, $2, 'user', u, 'tenant', $1::text from unnest($3::uuid[]) with ordinality as x(u, o) where o % 4 = 0`,
      [tenantId, editor.rows[0]?.id, ids],
    );
    await c.query(
      `insert into permission_overrides (tenant_id, principal_type, principal_id, permission_key, effect, scope_type, scope_id, reason)
       select $1, 'user', u, 'iam.bindings.read', 'deny', 'project', 'project-1', 'bench' from unnest($2::uuid[]) with ordinality as x(u, o) where o % 5 = 0`,
      [tenantId, ids],
    );
    await c.query('commit');
    return { tenantId, users: ids };
  } catch (err) {
    await c.query('rollback');
    throw err;
  }
}

const grpcRequest = (userId: string, i: number) => ({
  principal: { type: 'PRINCIPAL_TYPE_USER', id: userId },
  permission: PERMISSIONS[i % PERMISSIONS.length],
  scope_chain: [
    { type: 'SCOPE_TYPE_TEAM', id: `team-${(i + 1) % 10}` },
    { type: 'SCOPE_TYPE_PROJECT', id: 'project-1' },
  ],
});

const body = (userId: string, i: number) =>
  JSON.stringify({
    principal: { type: 'user', id: userId },
    permission: PERMISSIONS[i % PERMISSIONS.length],
    scope_chain: [
      { type: 'team', id: `team-${(i + 1) % 10}` },
      { type: 'project', id: 'project-1' },
    ],
  });

/**
 * The baseline's side of the cached check rows: the transport floor (bench/transport-floor.ts) sent the
 * same shape of requests — CACHED_PRINCIPALS principals, the same permissions and scope chains. The floor
 * has no uncached variant: it reads nothing, so those rows keep no baseline.
 */
export function floorAuthz(grpcAddress: string): AuthzTarget {
  const principals = Array.from({ length: CACHED_PRINCIPALS }, () => randomUUID());
  return {
    authorization: 'Bearer floor',
    cached: principals.map(body),
    uncached: [],
    grpc: { address: grpcAddress, token: 'floor', cached: principals.map(grpcRequest), uncached: [] },
  };
}

/** Creates the calling client, seeds the tenant, mints the caller's token and checks one answer. */
export async function setupAuthz(target: Target, opts: { cli: IamCli; dataDir: string; pgPort: number; grpcPort?: number }): Promise<void> {
  const args = [
    join(opts.cli.cwd, 'src/cli/main.ts'),
    'clients',
    'create',
    '--name',
    'bench-authz',
    '--grant-types',
    'client_credentials',
    '--resources',
    `${target.origin}/v1`,
    '--json',
  ];
  const { stdout } = await run(process.execPath, args, { cwd: opts.cli.cwd, env: childEnv(opts.cli.env), timeout: 60_000 });
  const doc = JSON.parse(stdout) as { client?: { client_id?: string }; client_id?: string; client_secret?: string; secret?: string };
  const text = JSON.stringify(doc);
  const clientId = /"client_id":"([^"]+)"/.exec(text)?.[1];
  const secret = /"client_secret":"([^"]+)"/.exec(text)?.[1];
  if (!clientId || !secret) throw new Error(`no client credentials in: ${stdout.slice(0, 300)}`);

  const c = await connectServiceDb(opts);
  let users: string[];
  try {
    ({ users } = await seed(c, clientId));
    // The client changed under the service's client cache: say so, as the service itself would.
    await c.query(`select pg_notify('iam_clients_changed', $1)`, [clientId]);
  } finally {
    await c.end();
  }
  await new Promise((r) => setTimeout(r, 200));

  const token = await fetch(`${target.origin}${target.paths.token}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${target.origin}/v1` }).toString(),
  });
  const tokenText = await token.text();
  if (token.status !== 200) throw new Error(`token request answered ${token.status}: ${tokenText.slice(0, 300)}`);
  const accessToken = (JSON.parse(tokenText) as { access_token: string }).access_token;
  const authorization = `Bearer ${accessToken}`;

  const authz: AuthzTarget = {
    authorization,
    cached: users.slice(0, CACHED_PRINCIPALS).map(body),
    uncached: users.map(body),
    ...(opts.grpcPort
      ? {
          grpc: {
            address: `127.0.0.1:${opts.grpcPort}`,
            token: accessToken,
            cached: users.slice(0, CACHED_PRINCIPALS).map(grpcRequest),
            uncached: users.map(grpcRequest),
          },
        }
      : {}),
  };
  const probe = await fetch(`${target.origin}/v1/authz/check`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: authz.cached[0],
  });
  const probeText = await probe.text();
  if (probe.status !== 200 || !probeText.includes('"decision_id"')) {
    throw new Error(`check answered ${probe.status}: ${probeText.slice(0, 300)}`);
  }
  target.authz = authz;
}
