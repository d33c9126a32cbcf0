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
  oidc: z
    .object({
      /** Lifetime of access tokens issued to users (authorization code and refresh grants). */
      access_token_ttl_s: int(60, 86_400).default(600),
      /** Lifetime of access tokens issued by the client_credentials grant. */
      client_credentials_ttl_s: int(60, 86_400).default(600),
      /** Lifetime of ID tokens. */
      id_token_ttl_s: int(60, 86_400).default(3_600),
      /** Refresh token idle lifetime: a refresh token unused this long expires (each rotation restarts it). */
      refresh_token_idle_ttl_s: int(300, 365 * 86_400).default(14 * 86_400),
      /** Refresh token absolute lifetime: no rotation extends a refresh chain past this, counted from the first token. */
      refresh_token_absolute_ttl_s: int(300, 3_650 * 86_400).default(90 * 86_400),
      /** Grant (consent record) lifetime; it caps everything issued from it, so it must cover the absolute refresh lifetime. */
      grant_ttl_s: int(300, 3_650 * 86_400).default(90 * 86_400),
      /** Absolute browser session lifetime (the engine's Session), counted from sign-in; activity never extends it (ADR-0019). */
      session_ttl_s: int(300, 365 * 86_400).default(86_400),
      /** Browser session idle lifetime: a session unused this long ends (each use restarts it, never past the absolute lifetime). */
      session_idle_ttl_s: int(60, 365 * 86_400).default(8 * 3_600),
      /** Lifetime of a pending sign-in interaction. */
      interaction_ttl_s: int(60, 86_400).default(3_600),
      /** Lifetime of an authorization code. */
      authorization_code_ttl_s: int(10, 600).default(60),
      /** How long a positive introspection answer for a JWT access token is reused in-process (0 = never). */
      introspection_cache_s: int(0, 60).default(5),
      /** Cookie signing key versions derived from the KEK; the first signs, the others still verify (rotate by prepending). */
      cookie_key_versions: z
        .preprocess(
          (v) =>
            typeof v === 'string'
              ? v
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean)
              : typeof v === 'number'
                ? [v]
                : v,
          z.array(z.coerce.number().int().min(1).max(9_999)).min(1).max(5),
        )
        .refine((v) => new Set(v).size === v.length, 'versions must be distinct')
        .default([1]),
    })
    .superRefine((o, ctx) => {
      if (o.refresh_token_idle_ttl_s > o.refresh_token_absolute_ttl_s) {
        ctx.addIssue({ code: 'custom', path: ['refresh_token_idle_ttl_s'], message: 'must not exceed oidc.refresh_token_absolute_ttl_s' });
      }
      if (o.refresh_token_absolute_ttl_s > o.grant_ttl_s) {
        ctx.addIssue({
          code: 'custom',
          path: ['refresh_token_absolute_ttl_s'],
          message: 'must not exceed oidc.grant_ttl_s (the grant caps the refresh chain)',
        });
      }
    })
    .prefault({}),
  auth: z
    .object({
      /** argon2id memory cost in KiB (OWASP: 19456 with 2 iterations, or an equivalent pair). */
      argon2_memory_kib: int(7_168, 4_194_304).default(19_456),
      /** argon2id iterations (time cost). */
      argon2_iterations: int(1, 64).default(2),
      /** argon2id lanes (parallelism). */
      argon2_parallelism: int(1, 64).default(1),
      /** Minimum password length in code points when the password is the only factor (NIST SP 800-63B-4: 15). */
      password_min_length: int(15, 256).default(15),
      /** Minimum password length when the account has a second factor (NIST: at least 8). */
      password_min_length_with_mfa: int(8, 256).default(8),
      /** Maximum password length in code points (at least 64); longer ones are refused, never truncated. */
      password_max_length: int(64, 4_096).default(256),
      /** Consecutive failures per account and factor before the factor locks until a reset or an admin unlock (NIST: at most 100). */
      lockout_threshold: int(1, 100).default(100),
      /** Self sign-up (email + password, verified by an emailed link) on the sign-in pages; a tenant can still refuse it (`settings.selfSignup: false`). */
      self_signup: bool().default(false),
      /** Per-account (per factor) failures without any wait. */
      account_free_failures: int(0, 100).default(5),
      /** Per-account wait after the first failure beyond the free ones; doubles per further failure. */
      account_backoff_base_s: int(1, 3_600).default(1),
      /** Longest per-account wait. */
      account_backoff_max_s: int(1, 86_400).default(900),
      /** Per-account failures are forgotten this long after the first of a series. */
      account_window_s: int(60, 30 * 86_400).default(86_400),
      /** Per-source-address failures (all factors together) without any wait. */
      ip_free_failures: int(0, 100_000).default(20),
      /** Per-source wait after the first failure beyond the free ones; doubles per further failure. */
      ip_backoff_base_s: int(1, 3_600).default(1),
      /** Longest per-source wait. */
      ip_backoff_max_s: int(1, 86_400).default(300),
      /** Per-source failures are forgotten this long after the first of a series. */
      ip_window_s: int(60, 30 * 86_400).default(3_600),
      /** Magic-link requests per account without any wait. */
      magic_link_free_requests: int(0, 100).default(3),
      /** Wait after the first magic-link request beyond the free ones; doubles per further request. */
      magic_link_backoff_base_s: int(1, 86_400).default(60),
      /** Longest wait between magic-link requests for one account. */
      magic_link_backoff_max_s: int(1, 86_400).default(3_600),
      /** Magic-link requests are forgotten this long after the first of a series. */
      magic_link_window_s: int(60, 30 * 86_400).default(3_600),
      /** Retry-After given when the rate-limit store is unreachable (attempts are refused, never let through). */
      limiter_unavailable_retry_s: int(1, 300).default(5),
      /** WebAuthn relying-party name shown by browsers and authenticators while registering a passkey (ADR-0014). */
      webauthn_rp_name: z.string().trim().min(1).max(64).default('InfraNotes'),
      /** Origins besides the issuer's that may run passkey ceremonies: scheme://host[:port] on the issuer's host or a subdomain of it. */
      webauthn_extra_origins: list().default([]),
    })
    .superRefine((a, ctx) => {
      // OWASP Password Storage Cheat Sheet argon2id rows (m KiB, t); p=1 each.
      const owasp = [
        [47_104, 1],
        [19_456, 2],
        [12_288, 3],
        [9_216, 4],
        [7_168, 5],
      ] as const;
      if (!owasp.some(([m, t]) => a.argon2_memory_kib >= m && a.argon2_iterations >= t)) {
        ctx.addIssue({
          code: 'custom',
          path: ['argon2_memory_kib'],
          message: 'argon2id parameters below the OWASP minimum (e.g. 19456 KiB with 2 iterations, 47104 KiB with 1)',
        });
      }
      if (a.password_min_length_with_mfa > a.password_min_length) {
        ctx.addIssue({ code: 'custom', path: ['password_min_length_with_mfa'], message: 'must not exceed auth.password_min_length' });
      }
      if (a.password_max_length < a.password_min_length) {
        ctx.addIssue({ code: 'custom', path: ['password_max_length'], message: 'must not be below auth.password_min_length' });
      }
      for (const p of ['account', 'ip', 'magic_link'] as const) {
        if (a[`${p}_backoff_base_s`] > a[`${p}_backoff_max_s`]) {
          ctx.addIssue({ code: 'custom', path: [`${p}_backoff_base_s`], message: `must not exceed auth.${p}_backoff_max_s` });
        }
      }
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
  account: z
    .object({
      /** Serve the account self-service pages at `<issuer path>/account` (ADR-0018). */
      enabled: bool().default(true),
      /** A sensitive change (password, email, second factors) needs a sign-in at most this long ago; older ones go through a fresh sign-in first. */
      recent_auth_s: int(30, 3_600).default(300),
      /** The account pages' own session ends after this long without a request. */
      session_idle_s: int(60, 86_400).default(1_800),
      /** ... and at the latest this long after its sign-in. */
      session_max_s: int(300, 7 * 86_400).default(28_800),
    })
    .superRefine((a, ctx) => {
      if (a.session_idle_s > a.session_max_s) {
        ctx.addIssue({ code: 'custom', path: ['session_idle_s'], message: 'must not exceed account.session_max_s' });
      }
    })
    .prefault({}),
  tenancy: z
    .object({
      /** Lifetime of an emailed invitation link; a resend issues a new link with a fresh lifetime. */
      invitation_ttl_s: int(3_600, 30 * 86_400).default(7 * 86_400),
      /** Days a deleted tenant is kept (restorable by a platform administrator) before the purge job erases it. */
      deletion_retention_days: int(0, 3_650).default(30),
      /** How long an Idempotency-Key of an admin API create replays its first response. */
      idempotency_ttl_s: int(60, 7 * 86_400).default(86_400),
    })
    .prefault({}),
  authz: z
    .object({
      /** Safety net behind revision notifications: a cached grant snapshot is re-read at least this often. */
      cache_ttl_s: int(1, 3_600).default(60),
      /** Grant snapshots (one per tenant and principal) kept in memory per instance. */
      cache_max_entries: int(100, 1_000_000).default(10_000),
    })
    .prefault({}),
  grpc: z
    .object({
      /** Serve the gRPC services (iam.v1.AuthorizationService). */
      enabled: bool().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      /** Unset: 50051, or any free port when env is test. */
      port: int(0, 65535).optional(),
      /** PEM server certificate and key; with a client CA they make the listener mutual TLS (Profile C). */
      tls_cert_file: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional()),
      tls_key_file: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional()),
      tls_client_ca_file: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional()),
    })
    .superRefine((g, ctx) => {
      const tls = [g.tls_cert_file, g.tls_key_file, g.tls_client_ca_file].filter(Boolean).length;
      if (tls !== 0 && tls !== 3) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls_cert_file'],
          message: 'set tls_cert_file, tls_key_file and tls_client_ca_file together',
        });
      }
      // Plaintext gRPC only on loopback (contracts/grpc-metadata.md).
      if (tls === 0 && !['127.0.0.1', '::1', 'localhost'].includes(g.host)) {
        ctx.addIssue({
          code: 'custom',
          path: ['host'],
          message: 'plaintext gRPC listens on loopback only; configure mutual TLS to bind elsewhere',
        });
      }
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
