import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { apiAudience } from '../../src/app.ts';
import { type CreateClientInput, createClient } from '../../src/clients/index.ts';
import type { TestService } from '../support/service.ts';
import { repoRoot } from '../support/services.ts';

// --- the contract schema, checked by a deliberately small JSON Schema (2020-12) subset -------

type Schema = Record<string, unknown> | boolean;
const contract = JSON.parse(readFileSync(join(repoRoot, 'contracts', 'jwt-claims.schema.json'), 'utf8')) as Record<string, unknown>;
const defs = contract.$defs as Record<string, Schema>;

const typeOk = (t: string, v: unknown): boolean => {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'null':
      return v === null;
    default:
      throw new Error(`schema type ${t} not supported by the test validator`);
  }
};

const KNOWN = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  '$defs',
  '$ref',
  'type',
  'const',
  'enum',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minLength',
  'minProperties',
  'pattern',
  'minimum',
  'oneOf',
  'anyOf',
  'not',
  'if',
  'then',
]);

/** Validation errors of `value` against `schema` (empty = valid). Fails loudly on keywords it does not implement. */
export function schemaErrors(schema: Schema, value: unknown, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: not allowed`];
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} not supported by the test validator`);
  const errs: string[] = [];
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.replace(/^#\/\$defs\//, '');
    const target = defs[name];
    if (target === undefined) throw new Error(`unresolvable $ref ${s.$ref}`);
    errs.push(...schemaErrors(target, value, path));
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => typeOk(t, value))) return [...errs, `${path}: expected ${types.join('|')}, got ${JSON.stringify(value)}`];
  }
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) errs.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errs.push(`${path}: not one of ${JSON.stringify(s.enum)}`);
  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && value.length < s.minLength) errs.push(`${path}: shorter than ${s.minLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) errs.push(`${path}: does not match ${s.pattern}`);
  }
  if (typeof value === 'number' && typeof s.minimum === 'number' && value < s.minimum) errs.push(`${path}: below ${s.minimum}`);
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems) errs.push(`${path}: fewer than ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && value.length > s.maxItems) errs.push(`${path}: more than ${s.maxItems} items`);
    if (s.uniqueItems === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) errs.push(`${path}: duplicate items`);
    if (s.items !== undefined) {
      for (const [i, v] of value.entries()) errs.push(...schemaErrors(s.items as Schema, v, `${path}[${i}]`));
    }
  }
  if (typeOk('object', value)) {
    const obj = value as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in obj)) errs.push(`${path}: missing ${r}`);
    if (typeof s.minProperties === 'number' && Object.keys(obj).length < s.minProperties)
      errs.push(`${path}: fewer than ${s.minProperties} members`);
    const props = (s.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, v] of Object.entries(obj)) {
      if (k in props) errs.push(...schemaErrors(props[k] as Schema, v, `${path}.${k}`));
      else if (s.additionalProperties !== undefined) errs.push(...schemaErrors(s.additionalProperties as Schema, v, `${path}.${k}`));
    }
  }
  if (Array.isArray(s.oneOf)) {
    const ok = (s.oneOf as Schema[]).filter((o) => schemaErrors(o, value, path).length === 0).length;
    if (ok !== 1) errs.push(`${path}: matches ${ok} of oneOf`);
  }
  if (Array.isArray(s.anyOf) && !(s.anyOf as Schema[]).some((o) => schemaErrors(o, value, path).length === 0))
    errs.push(`${path}: matches none of anyOf`);
  if (s.not !== undefined && schemaErrors(s.not as Schema, value, path).length === 0) errs.push(`${path}: matches a forbidden shape`);
  if (s.if !== undefined && schemaErrors(s.if as Schema, value, path).length === 0 && s.then !== undefined) {
    errs.push(...schemaErrors(s.then as Schema, value, path));
  }
  return errs;
}

/** Decodes a compact JWT and asserts it matches the contract's access-token or ID-token shape. */
export function expectContract(
  kind: 'accessToken' | 'idToken',
  jwt: string,
): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const decoded = { header: decodeProtectedHeader(jwt) as Record<string, unknown>, payload: decodeJwt(jwt) as Record<string, unknown> };
  expect(schemaErrors({ $ref: `#/$defs/${kind}` }, decoded), `${kind} against contracts/jwt-claims.schema.json`).to.deep.equal([]);
  expect(schemaErrors(contract as Schema, decoded), 'the contract root schema').to.deep.equal([]);
  if (kind === 'accessToken' && decoded.payload.sub_type === 'workload') {
    // RFC 9068 §2.2: a token without an end-user has the client as its subject.
    expect(decoded.payload.sub).to.equal(decoded.payload.client_id);
  }
  return decoded;
}

// --- clients and resources ---------------------------------------------------------------------

/** A downstream API the test clients may get tokens for. */
export const ORDERS_API = 'https://orders.api.example.test';

export const iamApi = (t: TestService) => apiAudience(t.service.config.issuer);

export interface TestClient {
  client_id: string;
  client_secret: string;
}

/** Creates a client through the clients domain module (as the CLI and admin API do). */
export async function makeClient(t: TestService, input: Partial<CreateClientInput> & { name?: string }): Promise<TestClient> {
  const created = await createClient(t.service.db, { name: input.name ?? 'test client', ...input } as CreateClientInput, {
    type: 'system',
    id: 'oidc-tests',
  });
  return { client_id: created.client.client_id, client_secret: created.secret ?? '' };
}

/** A confidential workload client for client_credentials against ORDERS_API (and IAM's API when asked). */
export function workloadClient(t: TestService, extra: Partial<CreateClientInput> = {}): Promise<TestClient> {
  return makeClient(t, {
    name: 'workload',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
    allowed_resources: [ORDERS_API],
    allowed_scopes: ['orders.read', 'orders.write'],
    ...extra,
  });
}

/** A resource server allowed to introspect. */
export function introspectorClient(t: TestService, extra: Partial<CreateClientInput> = {}): Promise<TestClient> {
  return makeClient(t, {
    name: 'resource server',
    grant_types: ['client_credentials'],
    allowed_resources: [iamApi(t)],
    allowed_scopes: ['iam.tokens.introspect'],
    ...extra,
  });
}

export const basic = (c: TestClient) =>
  `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret)}`).toString('base64')}`;

export async function form(
  url: string,
  body: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; text: string; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
    redirect: 'manual',
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON
  }
  return { status: res.status, json, text, headers: res.headers };
}

export async function clientCredentials(t: TestService, c: TestClient, params: Record<string, string> = {}, url = t.url) {
  return form(`${url}/token`, { grant_type: 'client_credentials', scope: 'orders.read', ...params }, { authorization: basic(c) });
}

export async function introspect(url: string, c: TestClient, token: string, extra: Record<string, string> = {}) {
  return form(`${url}/introspect`, { token, ...extra }, { authorization: basic(c) });
}

export async function revoke(url: string, c: TestClient, token: string, extra: Record<string, string> = {}) {
  return form(`${url}/revoke`, { token, ...extra }, { authorization: basic(c) });
}

// --- services whose issuer is their own URL (what an RP discovers) -----------------------------

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/**
 * A full service (real PostgreSQL and Redis) whose issuer is the URL it listens on, so an RP can
 * discover it. Pass `database` (and the same `issuer`) to start a second instance on the same state.
 */
export async function startOidcService(
  extra: Record<string, string> = {},
  shared?: { database: TestService['database']; issuer: string },
): Promise<TestService> {
  const { startTestService } = await import('../support/service.ts');
  const port = await freePort();
  const issuer = shared?.issuer ?? `http://127.0.0.1:${port}`;
  return startTestService({ IAM_SERVER_HTTP_PORT: String(port), IAM_ISSUER: issuer, ...extra }, shared?.database);
}
