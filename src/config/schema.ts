import { z } from 'zod';

// Field helpers accept both typed YAML values and the raw strings that come from
// environment variables, so one schema validates every source.
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
    return v;
  }, z.boolean());
const list = () =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(z.string().min(1)),
  );
const url = (protocols: string[]) =>
  z.url({ protocol: new RegExp(`^(${protocols.join('|')})$`), error: `must be a ${protocols.join(' or ')} URL` });
const optionalUrl = (protocols: string[]) => z.preprocess((v) => (v === '' ? undefined : v), url(protocols).optional());

/** A 32-byte key-encryption key, base64 or base64url encoded. */
const kek = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .refine((s) => Buffer.from(s, 'base64').length === 32, 'must be 32 bytes encoded as base64')
    .optional(),
);

export const configSchema = z.object({
  /** Public issuer URL of this deployment (one issuer; tenants travel in claims). */
  issuer: url(['http', 'https']).default('http://localhost:8080'),
  /** development | test | production. Production refuses unsafe defaults. */
  env: z.enum(['development', 'test', 'production']).default('development'),
  /** Directory for local state: embedded PostgreSQL, generated development KEK. */
  data_dir: z.string().min(1).default('.data'),
  server: z
    .object({
      host: z.string().min(1).default('0.0.0.0'),
      http_port: int(0, 65535).default(8080),
      /** Trust X-Forwarded-* from the load balancer (strip them at the edge). */
      trust_proxy: bool().default(true),
      /** Longest time a graceful shutdown waits for in-flight requests. */
      shutdown_timeout_ms: int(0, 600_000).default(15_000),
      /** Largest accepted request body. */
      body_limit_kb: int(1, 10_240).default(64),
    })
    .prefault({}),
  database: z
    .object({
      /** postgres:// URL. Empty runs an embedded PostgreSQL 18 under data_dir. */
      url: optionalUrl(['postgres', 'postgresql']),
      pool_min: int(0, 100).default(0),
      pool_max: int(1, 200).default(10),
      /** Apply pending migrations at start-up. */
      migrate_on_start: bool().default(true),
      /** TCP port of the embedded PostgreSQL (only when url is empty). */
      embedded_port: int(1, 65535).default(54329),
      statement_timeout_ms: int(0, 600_000).default(10_000),
    })
    .prefault({}),
  redis: z
    .object({
      /** redis:// URL. Empty uses an in-process store (single instance only). */
      url: optionalUrl(['redis', 'rediss']),
      key_prefix: z.string().default('iam:'),
    })
    .prefault({}),
  kafka: z
    .object({
      /** Broker list host:port,... Empty keeps events in the outbox (relay idles). */
      brokers: list().default([]),
      client_id: z.string().min(1).default('infranotes-iam'),
      /** Create the contract topics at start-up if missing. */
      provision_topics: bool().default(true),
      topic_partitions: int(1, 1000).default(6),
      replication_factor: int(1, 10).default(1),
    })
    .prefault({}),
  outbox: z
    .object({
      /** Run the relay in this instance. */
      relay_enabled: bool().default(true),
      poll_interval_ms: int(10, 60_000).default(250),
      batch_size: int(1, 10_000).default(200),
      /** Publish attempts before an event is parked for an operator. */
      max_attempts: int(1, 1000).default(12),
      backoff_base_ms: int(1, 600_000).default(500),
      backoff_max_ms: int(1, 3_600_000).default(60_000),
      /** Published events are kept this long (for replay by operators), then purged. */
      retention_days: int(0, 3_650).default(7),
    })
    .prefault({}),
  mail: z
    .object({
      /** smtp(s):// URL. Empty stores mail in the development mailbox. */
      smtp_url: optionalUrl(['smtp', 'smtps']),
      from: z.string().min(3).default('InfraNotes IAM <no-reply@localhost>'),
    })
    .prefault({}),
  keys: z
    .object({
      /** Key-encryption key for private keys at rest (32 bytes, base64). Required in production. */
      kek: kek,
      /** How long a new key is published in JWKS before it signs. */
      publish_lead_s: int(0, 30 * 86_400).default(3_600),
      /** How long a retired key stays published (>= longest token lifetime it signed). */
      retire_grace_s: int(0, 365 * 86_400).default(86_400),
      /** Automatic rotation period for active keys; 0 disables scheduled rotation. */
      rotation_interval_s: int(0, 3_650 * 86_400).default(30 * 86_400),
      /** How often each instance re-reads the key set and runs the rotation job. */
      refresh_interval_s: int(1, 3_600).default(30),
    })
    .prefault({}),
  log: z
    .object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  metrics: z.object({ enabled: bool().default(true) }).prefault({}),
  tracing: z
    .object({
      enabled: bool().default(false),
      /** OTLP/HTTP traces endpoint. */
      otlp_endpoint: url(['http', 'https']).default('http://127.0.0.1:4318/v1/traces'),
      service_name: z.string().min(1).default('infranotes-iam'),
      sample_ratio: z.coerce.number().min(0).max(1).default(1),
    })
    .prefault({}),
  bootstrap: z
    .object({
      /** On first start create a demo tenant, admin user and demo client (development only). */
      demo: bool().default(true),
      admin_email: z.email().default('admin@example.com'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;

/** Dotted paths whose values are secret: never printed or logged in clear. */
export const secretPaths = new Set(['keys.kek', 'database.url', 'redis.url', 'mail.smtp_url']);
