import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { assertMatchesOpenApi } from '../support/openapi.ts';
import type { TestService } from '../support/service.ts';
import { mintApiToken } from '../support/tokens.ts';

/*
 * Admin API fixtures: users written straight to the tables (the admin API has no user
 * creation), access tokens minted with the instance's key, and an HTTP helper that checks
 * every response against the OpenAPI document.
 */

export const suffix = () => randomBytes(4).toString('hex');

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked against the OpenAPI schema, then read loosely
type Loose = any;

export interface ApiResponse<T = Loose> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** One HTTP call to the instance; the response is checked against contracts/openapi. */
export async function call<T = Loose>(t: TestService, method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
    headers['content-type'] = 'application/json';
  const res = await fetch(`${t.url}${path}`, { method, headers, body });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  const observed = { status: res.status, headers: res.headers, body: parsed };
  assertMatchesOpenApi(method, path, observed);
  return observed as ApiResponse<T>;
}

export async function createUser(
  db: Knex,
  opts: { email?: string; verified?: boolean; name?: string } = {},
): Promise<{ id: string; email: string }> {
  const email = opts.email ?? `u-${suffix()}@example.test`;
  const [row] = await db('users')
    .insert({ email, email_verified_at: opts.verified === false ? null : db.fn.now(), display_name: opts.name ?? null })
    .returning(['id', 'email']);
  return row as { id: string; email: string };
}

export function userToken(t: TestService, userId: string, claims: Record<string, unknown> = {}): Promise<string> {
  return mintApiToken(t.service, { sub: userId, sub_type: 'user', client_id: 'admin-console', scope: 'openid', ...claims });
}

export function platformToken(t: TestService, sub = 'ops-console'): Promise<string> {
  return mintApiToken(t.service, { sub, sub_type: 'workload', client_id: sub, scope: 'iam.platform.admin' });
}

export interface TenantFixture {
  id: string;
  slug: string;
  owner: { id: string; email: string; token: string };
  roles: Record<string, string>;
}

/** A tenant created through the API by a platform administrator, with its first owner. */
export async function createTenant(t: TestService, opts: { slug?: string } = {}): Promise<TenantFixture> {
  const owner = await createUser(t.service.db, { name: 'Owner' });
  const res = await call(t, 'POST', '/v1/tenants', {
    token: await platformToken(t),
    body: { slug: opts.slug ?? `t-${suffix()}`, name: 'Tenant', owner_user_id: owner.id },
  });
  if (res.status !== 201) throw new Error(`tenant fixture: ${res.status} ${JSON.stringify(res.body)}`);
  const roles = Object.fromEntries(
    ((await t.service.db('roles').where({ tenant_id: res.body.id }).select('key', 'id')) as { key: string; id: string }[]).map((r) => [
      r.key,
      r.id,
    ]),
  );
  return { id: res.body.id, slug: res.body.slug, owner: { ...owner, token: await userToken(t, owner.id) }, roles };
}

/** A member added straight to the tables, with the given tenant-scope roles (keys). */
export async function addMember(
  t: TestService,
  tenant: TenantFixture,
  roleKeys: string[],
  opts: { email?: string } = {},
): Promise<{ id: string; email: string; token: string }> {
  const db = t.service.db;
  const user = await createUser(db, { email: opts.email });
  await db('memberships').insert({ tenant_id: tenant.id, user_id: user.id, status: 'active', joined_at: db.fn.now() });
  for (const key of roleKeys) {
    await db('scope_bindings').insert({
      tenant_id: tenant.id,
      role_id: tenant.roles[key],
      principal_type: 'user',
      principal_id: user.id,
      scope_type: 'tenant',
      scope_id: tenant.id,
    });
  }
  return { ...user, token: await userToken(t, user.id) };
}

/** A custom role written straight to the tables. */
export async function addRole(t: TestService, tenant: TenantFixture, key: string, permissions: string[]): Promise<string> {
  const db = t.service.db;
  const [row] = await db('roles').insert({ tenant_id: tenant.id, key, name: key }).returning('id');
  if (permissions.length) {
    await db('role_permissions').insert(permissions.map((permission_key) => ({ tenant_id: tenant.id, role_id: row.id, permission_key })));
  }
  tenant.roles[key] = row.id as string;
  return row.id as string;
}

export async function count(db: Knex, table: string, where: Record<string, unknown> = {}): Promise<number> {
  const [row] = await db(table).where(where).count<{ n: string }[]>('* as n');
  return Number(row?.n);
}

export async function lastEvent(db: Knex): Promise<{ type: string; key: string; tenant_id: string | null; data: Loose }> {
  return db('outbox_events').orderBy('position', 'desc').first('type', 'key', 'tenant_id', 'data');
}
