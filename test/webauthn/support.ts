import { randomBytes } from 'node:crypto';
import type { Knex } from '../../src/db/knex.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';
import { type AuthThrottleConfig, createAuthThrottle, createFactorGuard } from '../../src/security/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { createPasskeyService, createRelyingParty, type PasskeyService, type RelyingParty } from '../../src/webauthn/index.ts';
import { SoftwareAuthenticator } from './authenticator.ts';

export const ISSUER = 'https://id.example.test/oidc';
export const ORIGIN = 'https://id.example.test';
export const RP_ID = 'id.example.test';

export const throttleConfig = (c: Partial<AuthThrottleConfig> = {}): AuthThrottleConfig => ({
  account_free_failures: 1_000,
  account_backoff_base_s: 60,
  account_backoff_max_s: 900,
  account_window_s: 3_600,
  ip_free_failures: 10_000,
  ip_backoff_base_s: 60,
  ip_backoff_max_s: 300,
  ip_window_s: 3_600,
  magic_link_free_requests: 3,
  magic_link_backoff_base_s: 60,
  magic_link_backoff_max_s: 3_600,
  magic_link_window_s: 3_600,
  limiter_unavailable_retry_s: 5,
  ...c,
});

export interface Rig {
  store: MemoryStore;
  rp: RelyingParty;
  passkeys: PasskeyService;
  /** Log lines written by the service (JSON). */
  logs: Record<string, unknown>[];
  clock: { now: number };
}

/** A passkey service on an in-process store whose clock the test can move. */
export function rig(opts: { lockoutThreshold?: number; throttle?: Partial<AuthThrottleConfig>; extraOrigins?: string[] } = {}): Rig {
  const clock = { now: Date.now() };
  const store = new MemoryStore(() => clock.now);
  const logs: Record<string, unknown>[] = [];
  const logger: Logger = createLogger({
    level: 'warn',
    destination: {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  const throttle = createAuthThrottle({ store, config: throttleConfig(opts.throttle), now: () => clock.now });
  const guard = createFactorGuard({ throttle, lockoutThreshold: opts.lockoutThreshold ?? 100 });
  const rp = createRelyingParty({ issuer: ISSUER, rpName: 'InfraNotes Test', extraOrigins: opts.extraOrigins });
  return { store, rp, passkeys: createPasskeyService({ relyingParty: rp, throttle, guard, logger }), logs, clock };
}

let seq = 0;
/** Inserts an active user directly (the user service is not this module's concern). */
export async function insertUser(db: Knex, fields: Record<string, unknown> = {}): Promise<string> {
  seq += 1;
  const [row] = await db('users')
    .insert({ email: `pk${seq}-${randomBytes(4).toString('hex')}@example.test`, display_name: `Passkey User ${seq}`, ...fields })
    .returning('id');
  return row.id as string;
}

export async function auditRows(
  db: Knex,
  action: string,
  targetId?: string,
): Promise<{ outcome: string; actor_type: string; actor_id: string | null; target_id: string | null; details: Record<string, unknown> }[]> {
  const q = db('audit_events').where({ action });
  if (targetId) q.andWhere({ target_id: targetId });
  return q.orderBy('chain_seq').select('outcome', 'actor_type', 'actor_id', 'target_id', 'details');
}

export const authenticator = (o: Partial<ConstructorParameters<typeof SoftwareAuthenticator>[0]> = {}) =>
  new SoftwareAuthenticator({ origin: ORIGIN, ...o });

/** Registers a credential of `auth` for the user through the real ceremony; returns the row id. */
export async function register(
  r: Rig,
  db: Knex,
  userId: string,
  auth: SoftwareAuthenticator,
  opts: { kind?: 'passkey' | 'security_key'; name?: string } = {},
): Promise<string> {
  const options = await r.passkeys.startRegistration(db, r.store, { userId, userName: 'someone@example.test', kind: opts.kind });
  const result = await r.passkeys.finishRegistration(db, r.store, { userId, response: auth.create(options), name: opts.name });
  if (!result.ok) throw new Error(`registration failed: ${result.reason}`);
  return result.passkey.id;
}
