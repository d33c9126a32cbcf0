// Per-server setup: clients, endpoint paths from discovery, and pools of tokens to introspect.
// Both servers are set up the same way through their public HTTP interface; only the clients differ
// (static in the baseline's configuration, created with `iam clients create` on the service).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { childEnv } from './processes.ts';
import type { ScenarioId, Target, TokenFormat } from './scenarios.ts';

const run = promisify(execFile);

export const RESOURCES = { jwt: 'https://api.bench.example/jwt', opaque: 'https://api.bench.example/opaque' } as const;
export const SCOPE = 'api.read';
/** Scope that lets a client call the service's introspection endpoint. */
export const INTROSPECT_SCOPE = 'iam.tokens.introspect';

export interface PoolSizes {
  /** Distinct live tokens per format introspected round-robin. */
  active: number;
  /** Distinct revoked tokens for the revocation check. */
  revoked: number;
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const ccBody = (format: TokenFormat) =>
  new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCES[format], scope: SCOPE }).toString();

interface Discovery {
  token_endpoint: string;
  introspection_endpoint?: string;
  revocation_endpoint?: string;
}

async function discover(origin: string): Promise<Target['paths']> {
  const res = await fetch(`${origin}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`discovery at ${origin} answered ${res.status}`);
  const d = (await res.json()) as Discovery;
  // Endpoints are absolute URLs built from the Host header; the load generator needs paths.
  const path = (u?: string) => (u ? new URL(u).pathname : undefined);
  return {
    token: path(d.token_endpoint) ?? '/token',
    introspection: path(d.introspection_endpoint),
    revocation: path(d.revocation_endpoint),
  };
}

async function post(url: string, authorization: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, text: await res.text() };
}

/** Issues n tokens with a few requests in flight; throws with the server's answer on the first failure. */
async function mint(url: string, cc: { authorization: string; body: string }, n: number): Promise<string[]> {
  const out: string[] = [];
  const worker = async () => {
    while (out.length < n) {
      const r = await post(url, cc.authorization, cc.body);
      if (r.status !== 200) throw new Error(`token request answered ${r.status}: ${r.text.slice(0, 300)}`);
      out.push((JSON.parse(r.text) as { access_token: string }).access_token);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out.slice(0, n);
}

async function revokeAll(url: string, authorization: string, tokens: string[]): Promise<void> {
  for (let i = 0; i < tokens.length; i += 8) {
    await Promise.all(
      tokens.slice(i, i + 8).map(async (t) => {
        const r = await post(url, authorization, new URLSearchParams({ token: t, token_type_hint: 'access_token' }).toString());
        if (r.status !== 200) throw new Error(`revocation answered ${r.status}: ${r.text.slice(0, 300)}`);
      }),
    );
  }
}

/** Checks one introspection answer, so a broken setup is reported instead of measured. */
async function introspectsAs(url: string, authorization: string, token: string, active: boolean): Promise<string | undefined> {
  const r = await post(url, authorization, new URLSearchParams({ token, token_type_hint: 'access_token' }).toString());
  if (r.status !== 200) return `introspection answered ${r.status}: ${r.text.slice(0, 200)}`;
  const got = (JSON.parse(r.text) as { active?: boolean }).active;
  return got === active ? undefined : `introspection answered active=${got}, expected ${active}`;
}

const short = (err: unknown) =>
  String((err as Error)?.message ?? err)
    .split('\n')[0]
    ?.slice(0, 200) ?? 'failed';

interface ClientCreds {
  id: string;
  secret: string;
}

/**
 * Fills a Target from working credentials: a client per token format (may be the same client), and an
 * introspecting client. Each step that fails is recorded in `missing` for the scenarios it blocks.
 */
async function fill(
  target: Target,
  clients: Partial<Record<TokenFormat, ClientCreds>>,
  introspector: ClientCreds | undefined,
  pools: PoolSizes,
  /** Formats the server can introspect (the bare engine: opaque only); the first revocable one is revoked. */
  introspectable: TokenFormat[],
): Promise<void> {
  const { origin } = target;
  const tokenUrl = `${origin}${target.paths.token}`;
  const minted: Partial<Record<TokenFormat, string[]>> = {};
  for (const format of ['jwt', 'opaque'] as const) {
    const c = clients[format];
    if (!c) continue;
    const cc = { authorization: basic(c.id, c.secret), body: ccBody(format) };
    try {
      // Enough for the live pool and the revoked pool (revocation uses the issuing client's credentials).
      minted[format] = await mint(tokenUrl, cc, pools.active + pools.revoked);
      target.cc[format] = cc;
    } catch (err) {
      target.missing[`cc-${format}`] = short(err);
    }
  }

  const introspectionIds: ScenarioId[] = ['introspect-jwt', 'introspect-opaque', 'revocation-check'];
  const blockAll = (why: string) => {
    for (const id of introspectionIds) target.missing[id] ??= why;
  };
  if (!target.paths.introspection) return blockAll('no introspection_endpoint in discovery');
  if (!introspector) return blockAll('no client allowed to introspect');
  const auth = basic(introspector.id, introspector.secret);
  const introspectUrl = `${origin}${target.paths.introspection}`;
  target.introspect = { authorization: auth, active: {} };
  for (const format of introspectable) {
    const tokens = minted[format]?.slice(0, pools.active);
    const id: ScenarioId = format === 'jwt' ? 'introspect-jwt' : 'introspect-opaque';
    if (!tokens?.[0]) {
      target.missing[id] ??= target.missing[`cc-${format}`] ?? `no ${format} tokens`;
      continue;
    }
    const problem = await introspectsAs(introspectUrl, auth, tokens[0], true).catch(short);
    if (problem) target.missing[id] = problem;
    else target.introspect.active[format] = tokens;
  }

  // Revocation check: revoke the tail of the minted pool, then confirm introspection says inactive.
  if (!target.paths.revocation) {
    target.missing['revocation-check'] = 'no revocation_endpoint in discovery';
    return;
  }
  let lastProblem = 'no tokens to revoke';
  for (const format of introspectable) {
    const c = clients[format];
    const tokens = minted[format]?.slice(pools.active);
    if (!c || !tokens?.[0] || !target.introspect.active[format]) continue;
    try {
      await revokeAll(`${origin}${target.paths.revocation}`, basic(c.id, c.secret), tokens);
      const problem = await introspectsAs(introspectUrl, auth, tokens[0], false);
      if (problem) throw new Error(`after revocation: ${problem}`);
      target.introspect.revoked = tokens;
      target.introspect.revokedFormat = format;
      return;
    } catch (err) {
      lastProblem = `${format}: ${short(err)}`;
    }
  }
  target.missing['revocation-check'] = lastProblem;
}

export interface BaselineClient {
  clientId: string;
  clientSecret: string;
}

/**
 * The engine's in-memory adapter is a two-generation LRU of 1000 entries: a round-robin pool of up to
 * ~1000 tokens survives, but every token issued later (a client_credentials run issues tens of
 * thousands) pushes the pool out and introspection would measure misses. So the baseline's pool stays
 * below that size and is re-issued right before each run that introspects it.
 */
const ENGINE_POOL_MAX = 900;

export async function setupBaseline(origin: string, client: BaselineClient, pools: PoolSizes): Promise<Target> {
  const target: Target = { kind: 'baseline', origin, paths: await discover(origin), cc: {}, missing: {} };
  const creds = { id: client.clientId, secret: client.clientSecret };
  const sizes = { active: Math.min(pools.active, ENGINE_POOL_MAX), revoked: pools.revoked };
  // One static client: the engine picks the token format per resource; it may introspect its own tokens.
  // The engine can introspect and revoke only opaque tokens (scenarios.ts says what stands in for JWTs).
  await fill(target, { jwt: creds, opaque: creds }, creds, sizes, ['opaque']);
  const cc = target.cc.opaque;
  target.prepare = async (id) => {
    if (!cc || !target.introspect?.active.opaque || (id !== 'introspect-jwt' && id !== 'introspect-opaque')) return;
    target.introspect.active.opaque = await mint(`${origin}${target.paths.token}`, cc, sizes.active);
  };
  return target;
}

export interface IamCli {
  cwd: string;
  env: Record<string, string>;
}

/** Finds client_id / client_secret anywhere in the CLI's JSON (the document's exact shape is the CLI's business). */
function findCreds(doc: unknown): ClientCreds | undefined {
  let id: string | undefined;
  let secret: string | undefined;
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'client_id' && typeof x === 'string') id ??= x;
      else if (k === 'client_secret' && typeof x === 'string') secret ??= x;
      else walk(x);
    }
  };
  walk(doc);
  return id && secret ? { id, secret } : undefined;
}

async function createClient(cli: IamCli, name: string, args: string[]): Promise<ClientCreds> {
  const argv = [join(cli.cwd, 'src/cli/main.ts'), 'clients', 'create', '--name', name, ...args, '--json'];
  try {
    const { stdout } = await run(process.execPath, argv, { cwd: cli.cwd, env: childEnv(cli.env), timeout: 60_000 });
    const creds = findCreds(JSON.parse(stdout));
    if (!creds) throw new Error(`no client_id/client_secret in: ${stdout.slice(0, 300)}`);
    return creds;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`iam clients create ${args.join(' ')}: ${(e.stdout || e.stderr || e.message).trim().slice(0, 300)}`);
  }
}

export async function setupIam(origin: string, cli: IamCli, pools: PoolSizes): Promise<Target> {
  const target: Target = { kind: 'iam', origin, paths: await discover(origin), cc: {}, missing: {} };
  const clients: Partial<Record<TokenFormat, ClientCreds>> = {};
  // The token format is a client setting on the service: one client per format.
  for (const format of ['jwt', 'opaque'] as const) {
    try {
      clients[format] = await createClient(cli, `bench-${format}`, [
        '--grant-types',
        'client_credentials',
        '--resources',
        RESOURCES[format],
        '--scopes',
        SCOPE,
        '--access-token-format',
        format,
      ]);
    } catch (err) {
      target.missing[`cc-${format}`] = short(err);
    }
  }
  // A resource server's client: allowed to introspect (and nothing else).
  let introspector: ClientCreds | undefined;
  try {
    introspector = await createClient(cli, 'bench-introspector', ['--grant-types', 'client_credentials', '--scopes', INTROSPECT_SCOPE]);
  } catch (err) {
    for (const id of ['introspect-jwt', 'introspect-opaque', 'revocation-check'] as const) target.missing[id] = short(err);
  }
  // JWT first: the revocation check is about the per-jti revocation record the engine does not have.
  await fill(target, clients, introspector, pools, ['jwt', 'opaque']);
  return target;
}
