// The operations the bench measures, and the load generator that measures one of them against one server.
// A scenario describes *what* is sent; a Target (built by bench/targets.ts) supplies the per-server
// details: endpoint paths from its discovery document, client credentials, and pools of tokens.
import autocannon from 'autocannon';
import type { AuthzTarget } from './authz.ts';
import { runGrpcLoad } from './grpc-load.ts';
import { type LoginTarget, passwordLogin } from './login.ts';
import { percentileOf } from './percentile.ts';

export type TokenFormat = 'jwt' | 'opaque';

export interface Target {
  kind: 'baseline' | 'iam';
  origin: string;
  paths: { token: string; introspection?: string; revocation?: string };
  /** Ready-to-send client_credentials requests per access-token format. */
  cc: Partial<Record<TokenFormat, { authorization: string; body: string }>>;
  /** Basic credentials of a client allowed to introspect, and the tokens it introspects. */
  introspect?: { authorization: string; active: Partial<Record<TokenFormat, string[]>>; revoked?: string[]; revokedFormat?: TokenFormat };
  /** The check API's caller token and request bodies (bench/authz.ts); the bare engine has no check API. */
  authz?: AuthzTarget;
  /** The password-login scenario's client and accounts (bench/login.ts). */
  login?: LoginTarget;
  /** Why a piece could not be set up (shown instead of a figure). */
  missing: Partial<Record<ScenarioId, string>>;
  /** Runs before a scenario is built (the baseline re-issues its introspection pool, see targets.ts). */
  prepare?(id: ScenarioId): Promise<void>;
}

export type ScenarioId =
  | 'cc-jwt'
  | 'cc-opaque'
  | 'introspect-jwt'
  | 'introspect-opaque'
  | 'revocation-check'
  | 'jwks'
  | 'discovery'
  | 'authz-check-cached'
  | 'authz-check-uncached'
  | 'authz-check-cached-grpc'
  | 'authz-check-uncached-grpc'
  | 'password-login';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** Request bodies, sent round-robin (distinct tokens, so no single cache entry serves the whole run). */
  bodies?: string[];
  /** A 2xx answer that says the wrong thing (e.g. `active: false` for a live token) is an error too. */
  verify(body: string): boolean;
  /** Shown beside the figure when this server measures a stand-in for the operation. */
  note?: string;
  /** A load generator of its own (non-HTTP protocols); method, path and headers are then unused. */
  run?(opts: LoadOptions): Promise<LoadResult>;
}

export interface Scenario {
  id: ScenarioId;
  title: string;
  /** Which DESIGN §7 targets apply: throughput ratio, p99 and PostgreSQL writes. */
  gated: boolean;
  zeroWrites: boolean;
  /**
   * Reads or writes PostgreSQL on (nearly) every request: the next service window waits until this one's
   * counters are published (bench/pg-writes.ts). Other windows are followed at once; what the service's
   * background jobs publish late lands in the next window, and the idle rate taken out covers it.
   */
  pgEveryRequest?: boolean;
  /** A latency target of its own (DESIGN §7, the check API), judged at the scenario's own concurrency (bench/run.ts). */
  p99TargetMs?: number;
  build(t: Target): LoadRequest | { missing: string };
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

function clientCredentials(format: TokenFormat): Scenario['build'] {
  return (t) => {
    const cc = t.cc[format];
    if (!cc) return { missing: t.missing[`cc-${format}`] ?? `no ${format} client` };
    return {
      method: 'POST',
      path: t.paths.token,
      headers: { ...form, authorization: cc.authorization },
      bodies: [cc.body],
      verify: (b) => b.includes('"access_token"'),
    };
  };
}

function introspection(pick: (t: Target) => { tokens?: string[]; active: boolean; note?: string }, id: ScenarioId): Scenario['build'] {
  return (t) => {
    const { tokens, active, note } = pick(t);
    if (!t.paths.introspection || !t.introspect || !tokens?.length) return { missing: t.missing[id] ?? 'introspection not available' };
    return {
      method: 'POST',
      path: t.paths.introspection,
      headers: { ...form, authorization: t.introspect.authorization },
      bodies: tokens.map((tok) => `token=${encodeURIComponent(tok)}&token_type_hint=access_token`),
      verify: active ? (b) => b.includes('"active":true') : (b) => b.includes('"active":false'),
      note,
    };
  };
}

// The bare engine cannot introspect JWT access tokens (it answers unsupported_token_type) nor revoke them,
// so its side of those two rows is the nearest operation it has: the same call on an opaque token.
const ENGINE_NO_JWT = 'baseline: opaque AT (the bare engine rejects JWT ATs: unsupported_token_type)';
const ENGINE_LRU =
  "baseline pool capped at 900 tokens and re-issued just before the run: the engine's in-memory adapter is an LRU of ~1000 entries";

const NO_CHECK_API =
  'the bare engine has no authorization check API (the transport floor stands in on the cached rows only: it reads nothing)';
// The cached check rows' baseline (bench/transport-floor.ts): what the transport alone costs here and now.
const FLOOR_REST = 'baseline: transport floor, a bare node:http route answering a constant decision (no check API in the engine)';
const FLOOR_GRPC = 'baseline: transport floor, the contract on a bare grpc-js server answering a constant decision';

/** REST check API, bodies round-robin over the principals of `pick` (bench/authz.ts says which hit the cache). */
function authzCheck(id: ScenarioId, pick: (a: AuthzTarget) => string[], note: string): Scenario['build'] {
  return (t) => {
    const bodies = t.authz ? pick(t.authz) : [];
    if (t.kind === 'baseline' && !bodies.length) return { missing: NO_CHECK_API };
    if (!t.authz || !bodies.length) return { missing: t.missing[id] ?? 'check API not set up' };
    return {
      method: 'POST',
      path: '/v1/authz/check',
      headers: { 'content-type': 'application/json', authorization: t.authz.authorization },
      bodies,
      verify: (b) => b.includes('"decision_id"'),
      note: t.kind === 'baseline' ? FLOOR_REST : note,
    };
  };
}

/** gRPC iam.v1.AuthorizationService/Check with the same checks (bench/grpc-load.ts drives it). */
function authzCheckGrpc(id: ScenarioId, pick: (g: NonNullable<AuthzTarget['grpc']>) => unknown[], note: string): Scenario['build'] {
  return (t) => {
    const g = t.authz?.grpc;
    const requests = g ? pick(g) : [];
    if (t.kind === 'baseline' && !requests.length) return { missing: NO_CHECK_API };
    if (!g || !requests.length) return { missing: t.missing[id] ?? 'gRPC check API not set up' };
    return {
      method: 'POST',
      path: 'grpc:iam.v1.AuthorizationService/Check',
      headers: {},
      verify: () => true,
      note: t.kind === 'baseline' ? FLOOR_GRPC : note,
      run: (load) =>
        runGrpcLoad({
          address: g.address,
          method: 'Check',
          token: g.token,
          requests,
          verify: (res) => typeof (res as { decision_id?: unknown })?.decision_id === 'string',
          load,
        }),
    };
  };
}

export const scenarios: Scenario[] = [
  { id: 'cc-jwt', title: 'client_credentials (JWT)', gated: true, zeroWrites: true, build: clientCredentials('jwt') },
  { id: 'cc-opaque', title: 'client_credentials (opaque)', gated: true, zeroWrites: true, build: clientCredentials('opaque') },
  {
    id: 'introspect-jwt',
    title: 'introspection (JWT AT)',
    gated: true,
    zeroWrites: true,
    // The first sight of each token reads the revocation records.
    pgEveryRequest: true,
    build: introspection(
      (t) =>
        t.kind === 'baseline'
          ? { tokens: t.introspect?.active.opaque, active: true, note: `${ENGINE_NO_JWT}; ${ENGINE_LRU}` }
          : { tokens: t.introspect?.active.jwt, active: true },
      'introspect-jwt',
    ),
  },
  {
    id: 'introspect-opaque',
    title: 'introspection (opaque AT)',
    gated: true,
    zeroWrites: true,
    build: introspection(
      (t) => ({ tokens: t.introspect?.active.opaque, active: true, note: t.kind === 'baseline' ? ENGINE_LRU : undefined }),
      'introspect-opaque',
    ),
  },
  {
    id: 'revocation-check',
    title: 'revocation check (introspect a revoked AT)',
    gated: false,
    zeroWrites: false,
    build: introspection(
      (t) => ({
        tokens: t.introspect?.revoked,
        active: false,
        note:
          t.kind === 'baseline'
            ? ENGINE_NO_JWT
            : `iam: revoked ${t.introspect?.revokedFormat === 'opaque' ? 'opaque' : 'JWT'} ATs (${t.introspect?.revoked?.length ?? 0} distinct)`,
      }),
      'revocation-check',
    ),
  },
  {
    id: 'jwks',
    title: 'JWKS',
    gated: false,
    zeroWrites: false,
    build: () => ({ method: 'GET', path: '/.well-known/jwks.json', headers: {}, verify: (b) => b.includes('"keys"') }),
  },
  {
    id: 'discovery',
    title: 'discovery',
    gated: false,
    zeroWrites: false,
    build: () => ({ method: 'GET', path: '/.well-known/openid-configuration', headers: {}, verify: (b) => b.includes('"issuer"') }),
  },
  // Cached rows first: they touch no PostgreSQL, so they follow each other without waiting for counters.
  {
    id: 'authz-check-cached',
    title: 'authz check, REST (cached grants)',
    gated: false,
    zeroWrites: true,
    p99TargetMs: 2,
    build: authzCheck('authz-check-cached', (a) => a.cached, 'iam: 50 principals, grant snapshots in the cache'),
  },
  {
    id: 'authz-check-cached-grpc',
    title: 'authz check, gRPC (cached grants)',
    gated: false,
    zeroWrites: true,
    p99TargetMs: 2,
    build: authzCheckGrpc('authz-check-cached-grpc', (g) => g.cached, 'iam: as the REST row, over gRPC (plaintext loopback)'),
  },
  {
    id: 'authz-check-uncached',
    title: 'authz check, REST (grants read from PostgreSQL)',
    gated: false,
    zeroWrites: true,
    pgEveryRequest: true,
    p99TargetMs: 10,
    build: authzCheck(
      'authz-check-uncached',
      (a) => a.uncached,
      'iam: 2000 principals cycled through a 100-entry cache, one PostgreSQL read per check',
    ),
  },
  {
    id: 'authz-check-uncached-grpc',
    title: 'authz check, gRPC (grants read from PostgreSQL)',
    gated: false,
    zeroWrites: true,
    pgEveryRequest: true,
    p99TargetMs: 10,
    build: authzCheckGrpc('authz-check-uncached-grpc', (g) => g.uncached, 'iam: as the REST row, over gRPC (plaintext loopback)'),
  },
  passwordLogin,
];

export interface LoadResult {
  /** Completed responses (any status). */
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** Socket errors, timeouts and 2xx answers that failed `verify` (non-2xx are counted apart). */
  errors: number;
  statusCodes: Record<string, number>;
  /** First answer that failed verification (non-2xx included), to say what went wrong. */
  sample?: string;
  /** Latencies of the 2xx answers in ms, sorted (to merge rounds, bench/run.ts). */
  latencies?: number[];
  /** The ceiling this figure is judged against, measured in the same run (password login: the argon2 bound). */
  bound?: { rps: number; label: string };
}

export interface LoadOptions {
  connections: number;
  seconds: number;
}

/**
 * One bounded autocannon run: keep-alive connections over loopback, one request in flight per
 * connection. Latencies are collected per response at sub-millisecond resolution (autocannon's own
 * histogram has 1 ms buckets, too coarse for p50s of ~1 ms) and only for 2xx answers, as autocannon does.
 */
export async function runLoad(origin: string, req: LoadRequest, opts: LoadOptions): Promise<LoadResult> {
  const bodies = req.bodies ?? [];
  let next = 0;
  const latencies: number[] = [];
  let sample: string | undefined;
  let lastStatus = 0;
  let wrong = 0;
  let done: (r: autocannon.Result) => void = () => undefined;
  let fail: (e: Error) => void = () => undefined;
  const finished = new Promise<autocannon.Result>((ok, ko) => {
    done = ok;
    fail = ko;
  });
  // The callback form returns the instance, whose per-response events carry precise latencies.
  const instance = autocannon(
    {
      url: origin,
      connections: opts.connections,
      pipelining: 1,
      duration: opts.seconds,
      timeout: 10,
      requests: [
        {
          method: req.method,
          path: req.path,
          headers: req.headers,
          ...(bodies.length
            ? {
                setupRequest: (r: autocannon.Request) => {
                  r.body = bodies[next++ % bodies.length];
                  return r;
                },
              }
            : {}),
        },
      ],
      // Called right after the 'response' event of the same response (autocannon's httpClient), so
      // lastStatus belongs to this body: non-2xx are counted apart, here only wrong 2xx answers.
      verifyBody: (body) => {
        const text = String(body ?? '');
        if (req.verify(text)) return true;
        sample ??= `${lastStatus} ${text.slice(0, 200)}`;
        if (lastStatus >= 200 && lastStatus < 300) wrong++;
        return false;
      },
    },
    (err, res) => (err ? fail(err) : done(res)),
  );
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    lastStatus = statusCode;
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await finished;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => percentileOf(latencies, p);
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = (s as { count: number }).count;
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.duration > 0 ? result.requests.total / result.duration : 0,
    p50: pct(50),
    p99: pct(99),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts + wrong,
    statusCodes,
    sample,
    latencies,
  };
}
