// Password sign-in over HTTP, as a browser does it (DESIGN §7: "password login: ≥ 80 % of the argon2
// bound at the configured parameters"; "≤ 1 PostgreSQL write per completed login"):
//   GET /authorize (PKCE S256) → our interaction pages → identifier POST → password POST (CSRF token
//   from each form) → the engine's resume → 303 to the client's redirect URI with a code
//   (→ the code exchanged at /token when BENCH_LOGIN_TOKEN=1).
// Every login starts from an empty cookie jar, so each one signs in afresh and creates its session
// (and, the client being first-party, its grant): the full write path of a completed login.
// A closed loop of BENCH_LOGIN_CONNECTIONS (default 8) flows over a pool of BENCH_LOGIN_USERS (default
// 20) accounts: one created with the CLI (argon2id at the service's parameters), the others copies of it
// under other emails (setupLogin). Accounts log in again and again, round-robin, never two flows on one
// account at a time: a success is never a failure for the per-account throttle, and nothing here may ever
// trip it.
//
// The argon2 bound is measured in the same run, in this process, right before and right after each window
// (the mean counts; other load on a shared machine moves it by tens of percent): argon2id verifications at
// the service's configured parameters (auth.argon2_*), one loop per core, for BOUND_SECONDS, the service
// idle. Each login costs exactly one verification, so the bound is the most logins/s the machine could
// serve if sign-in did nothing else — and the load generator's own CPU (reported) counts against it.

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import argon2 from 'argon2';
import { loadConfig } from '../src/config/index.ts';
import { percentileOf } from './percentile.ts';
import { childEnv } from './processes.ts';
import type { LoadOptions, LoadResult, Scenario, Target } from './scenarios.ts';
import { connectServiceDb, type ServiceDb } from './service-db.ts';
import type { IamCli } from './targets.ts';

const exec = promisify(execFile);

const BOUND_SECONDS = 3;
const USERS = Number(process.env.BENCH_LOGIN_USERS ?? 20);
export const LOGIN_CONNECTIONS = Number(process.env.BENCH_LOGIN_CONNECTIONS ?? 8);
const EXCHANGE = process.env.BENCH_LOGIN_TOKEN === '1';
/** Never reached: the redirect to the client is read from the Location header, not followed. */
const REDIRECT_URI = 'http://127.0.0.1:9/cb';

export interface LoginTarget {
  clientId: string;
  users: Array<{ email: string; password: string }>;
  params: { m: number; t: number; p: number };
}

const short = (err: unknown) => String((err as Error)?.message ?? err).slice(0, 200);

async function cli(c: IamCli, args: string[], extraEnv: Record<string, string> = {}): Promise<unknown> {
  const argv = [join(c.cwd, 'src/cli/main.ts'), ...args, '--json'];
  try {
    const { stdout } = await exec(process.execPath, argv, { cwd: c.cwd, env: childEnv({ ...c.env, ...extraEnv }), timeout: 120_000 });
    return JSON.parse(stdout);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`iam ${args.slice(0, 2).join(' ')}: ${(e.stdout || e.stderr || e.message).trim().slice(0, 300)}`);
  }
}

/** A first-party public client and the account pool; one login is driven to prove the path works. */
export async function setupLogin(target: Target, c: IamCli, db: ServiceDb): Promise<void> {
  const client = (await cli(c, [
    'clients',
    'create',
    '--name',
    'bench-login',
    '--first-party',
    '--grant-types',
    'authorization_code',
    '--token-endpoint-auth-method',
    'none',
    '--redirect-uris',
    REDIRECT_URI,
  ])) as Record<string, unknown>;
  const clientId = /"client_id":"([^"]+)"/.exec(JSON.stringify(client))?.[1];
  if (!clientId) throw new Error(`no client_id in: ${JSON.stringify(client).slice(0, 300)}`);

  const password = `Tangerine ${randomBytes(12).toString('hex')} meadow`;
  const users = Array.from({ length: USERS }, (_, i) => ({ email: `bench-login-${i}@bench.example`, password }));
  const first = users[0];
  if (!first) throw new Error('BENCH_LOGIN_USERS must be at least 1');
  // One account through the CLI (the service's own hashing, at its configured argon2 parameters); the rest
  // are copies of its row and password hash under other emails. A CLI process per account cost ~1.3 s each,
  // a quarter of the bench's setup, and every copy verifies at exactly the same cost.
  await cli(c, ['users', 'create', '--email', first.email, '--password-env', 'BENCH_LOGIN_PASSWORD'], { BENCH_LOGIN_PASSWORD: password });
  const conn = await connectServiceDb(db);
  try {
    await conn.query('begin');
    await conn.query(
      `with src as (select u.*, p.password_hash, p.algorithm, p.params
                      from users u join password_credentials p on p.user_id = u.id where lower(u.email) = lower($1)),
            copies as (
              insert into users (email, email_verified_at, display_name, status, profile)
              select e, src.email_verified_at, src.display_name, src.status, src.profile from src, unnest($2::text[]) e
              returning id)
       insert into password_credentials (user_id, password_hash, algorithm, params)
       select copies.id, src.password_hash, src.algorithm, src.params from copies, src`,
      [first.email, users.slice(1).map((u) => u.email)],
    );
    await conn.query('commit');
  } catch (err) {
    await conn.query('rollback');
    throw err;
  } finally {
    await conn.end();
  }
  const { auth } = loadConfig({ env: c.env, cwd: c.cwd }).config;
  const login: LoginTarget = {
    clientId,
    users,
    params: { m: auth.argon2_memory_kib, t: auth.argon2_iterations, p: auth.argon2_parallelism },
  };
  await signIn(target.origin, login, first, { credentialMs: [] });
  target.login = login;
}

/** Argon2id verifications per second with one loop per core (the service's hashing, without the service). */
export async function measureArgon2Bound(params: LoginTarget['params'], seconds = BOUND_SECONDS): Promise<number> {
  const password = 'argon2 bound';
  const hash = await argon2.hash(password, { type: argon2.argon2id, memoryCost: params.m, timeCost: params.t, parallelism: params.p });
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let n = 0;
  const loop = async () => {
    while (performance.now() < deadline) {
      if (!(await argon2.verify(hash, password))) throw new Error('argon2 bound: verification failed');
      n += 1;
    }
  };
  await Promise.all(Array.from({ length: availableParallelism() }, loop));
  return n / ((performance.now() - started) / 1000);
}

// --- one browser ----------------------------------------------------------------------------------

class Browser {
  readonly #origin: string;
  readonly #jar = new Map<string, string>();

  constructor(origin: string) {
    this.#origin = origin;
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}) {
    const target = new URL(url, this.#origin);
    const headers: Record<string, string> = { accept: 'text/html', cookie: [...this.#jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['sec-fetch-site'] = 'same-origin';
    }
    const res = await fetch(target, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      redirect: 'manual',
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    for (const cookie of res.headers.getSetCookie()) {
      const pair = cookie.split(';')[0] ?? '';
      const i = pair.indexOf('=');
      const value = pair.slice(i + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.#jar.delete(pair.slice(0, i));
      else this.#jar.set(pair.slice(0, i), value);
    }
    const location = res.headers.get('location');
    return { status: res.status, text: await res.text(), url: target, location: location ? new URL(location, target) : undefined };
  }

  /** GETs along redirects on this origin; stops at a page or a redirect elsewhere. */
  async follow(first: Awaited<ReturnType<Browser['request']>>) {
    let r = first;
    for (let i = 0; i < 10 && r.location && r.status >= 300 && r.status < 400; i++) {
      if (r.location.origin !== new URL(this.#origin).origin) return r;
      r = await this.request(r.location.toString());
    }
    return r;
  }
}

class FlowError extends Error {}

function form(page: { status: number; text: string; url: URL }, step: string): { action: string; csrf: string } {
  const action = [...page.text.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]).find((a) => a?.endsWith(`/${step}`));
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (page.status !== 200 || !action || !csrf) throw new FlowError(`expected the ${step} page, got ${page.status} ${page.url.pathname}`);
  return { action: action.replace(/&amp;/g, '&'), csrf };
}

/** One complete sign-in; resolves when the client's redirect carries a code (and, optionally, it was exchanged). */
async function signIn(origin: string, t: LoginTarget, user: { email: string; password: string }, stats: { credentialMs: number[] }) {
  const b = new Browser(origin);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('hex');
  const authorize = new URL('/authorize', origin);
  for (const [k, v] of Object.entries({
    client_id: t.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }))
    authorize.searchParams.set(k, v);

  const identifier = form(await b.follow(await b.request(authorize.toString())), 'identifier');
  const password = form(
    await b.follow(await b.request(identifier.action, { form: { csrf: identifier.csrf, email: user.email } })),
    'password',
  );
  const started = performance.now();
  const posted = await b.request(password.action, { form: { csrf: password.csrf, password: user.password } });
  stats.credentialMs.push(performance.now() - started);
  if (posted.status !== 303) throw new FlowError(`password POST answered ${posted.status}`);
  const back = await b.follow(posted);
  const code = back.location?.searchParams.get('code');
  if (!code || back.location?.searchParams.get('state') !== state) {
    throw new FlowError(`no code at the client: ${back.status} ${back.location ?? back.url.pathname}`);
  }
  if (!EXCHANGE) return;
  const res = await fetch(new URL('/token', origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: t.clientId,
      code_verifier: verifier,
    }).toString(),
  });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('"id_token"')) throw new FlowError(`token exchange answered ${res.status}`);
}

/** Closed loop: `connections` browsers, each starting its next login when the last one ended. */
async function runLogins(origin: string, t: LoginTarget, opts: LoadOptions): Promise<LoadResult> {
  const boundBefore = await measureArgon2Bound(t.params);
  const connections = Math.min(LOGIN_CONNECTIONS, Math.floor(t.users.length / 2) || 1);
  const latencies: number[] = [];
  const stats = { credentialMs: [] as number[] };
  let failed = 0;
  let errors = 0;
  let sample: string | undefined;
  let next = 0;
  const busy = new Set<number>();
  const started = performance.now();
  // This process's CPU while it drives the logins: cores the service could not use.
  const cpuBefore = process.cpuUsage();
  const deadline = started + opts.seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      // Round-robin over accounts no other flow is using.
      let i = next++ % t.users.length;
      while (busy.has(i)) i = next++ % t.users.length;
      busy.add(i);
      const t0 = performance.now();
      try {
        await signIn(origin, t, t.users[i] as LoginTarget['users'][number], stats);
        latencies.push(performance.now() - t0);
      } catch (err) {
        if (err instanceof FlowError) failed += 1;
        else errors += 1;
        sample ??= short(err);
      } finally {
        busy.delete(i);
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const boundAfter = await measureArgon2Bound(t.params);
  const generatorMs = latencies.length ? (cpu.user + cpu.system) / 1000 / latencies.length : 0;
  latencies.sort((a, b) => a - b);
  const cred = stats.credentialMs.sort((a, b) => a - b);
  return {
    requests: latencies.length + failed + errors,
    seconds,
    rps: latencies.length / seconds,
    p50: percentileOf(latencies, 50),
    p99: percentileOf(latencies, 99),
    non2xx: failed,
    errors,
    statusCodes: {},
    sample,
    bound: {
      rps: (boundBefore + boundAfter) / 2,
      label:
        `argon2id verifications/s at m=${t.params.m} KiB, t=${t.params.t}, p=${t.params.p} on ${availableParallelism()} cores, ` +
        `${boundBefore.toFixed(1)} before and ${boundAfter.toFixed(1)} after the window; ` +
        `${connections} concurrent logins over ${t.users.length} accounts; password POST p50 ${percentileOf(cred, 50).toFixed(1)} ms, ` +
        `p99 ${percentileOf(cred, 99).toFixed(1)} ms; load generator CPU ${generatorMs.toFixed(1)} ms/login${EXCHANGE ? '; code exchanged at /token' : '; ends at the redirect with the code'}`,
    },
  };
}

export const passwordLogin: Scenario = {
  id: 'password-login',
  title: 'password login (authorize → identifier → password → code)',
  gated: false,
  zeroWrites: false,
  pgEveryRequest: true,
  build: (t) => {
    if (t.kind === 'baseline') return { missing: 'the bare engine has no password login (no accounts, no sign-in pages)' };
    const login = t.login;
    if (!login) return { missing: t.missing['password-login'] ?? 'login not set up' };
    return {
      method: 'GET',
      path: '/authorize',
      headers: {},
      verify: () => true,
      note: 'iam: req/s = completed logins/s, p50/p99 of the whole login (every HTTP request of it); PG columns per login',
      run: (load) => runLogins(t.origin, login, load),
    };
  },
};
