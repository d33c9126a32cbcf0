import { randomBytes } from 'node:crypto';
import { type Config, configSchema } from '../../src/config/index.ts';
import type { Knex } from '../../src/db/knex.ts';
import { createKeyService, type KeyService, type KeyServiceOptions } from '../../src/keys/index.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { testLogger } from '../support/services.ts';

/** A clock tests move by hand, so lead and grace periods pass without sleeping. */
export function manualClock(start = new Date('2027-03-01T00:00:00Z')) {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(seconds: number) {
      t += seconds * 1000;
    },
  };
}

export function keysConfig(keys: Partial<Config['keys']> = {}): Config {
  return configSchema.parse({
    env: 'test',
    keys: { publish_lead_s: 60, retire_grace_s: 300, rotation_interval_s: 0, refresh_interval_s: 30, ...keys },
  });
}

export const newKek = () => randomBytes(32);

export function keyService(
  db: Knex,
  kek: Buffer,
  opts: { config?: Config; now?: () => Date } & Partial<Pick<KeyServiceOptions, 'metrics' | 'externalSigner'>> = {},
): KeyService {
  return createKeyService({
    db,
    kek,
    config: opts.config ?? keysConfig(),
    logger: testLogger,
    metrics: opts.metrics ?? createMetrics(),
    now: opts.now,
    externalSigner: opts.externalSigner,
  });
}

/** Private JWK members that must never appear in a JWKS. */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

export async function keyRows(db: Knex) {
  return db('signing_keys').select('kid', 'purpose', 'alg', 'state', 'private_key_envelope').orderBy(['purpose', 'created_at']);
}
