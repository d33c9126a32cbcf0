import type Router from '@koa/router';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { DestinationStream } from 'pino';
import { createClientAdapter } from '../adapters/client.ts';
import { createAdapterFactory } from '../adapters/index.ts';
import { interactionRoutes } from '../interactions/index.ts';
import { bootstrapDemo, type DemoBootstrap } from './bootstrap/demo.ts';
import { createClientCache, listenForClientChanges } from './clients/index.ts';
import type { LoadedConfig } from './config/index.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './db/embedded.ts';
import { createDb, type Knex, poolStats } from './db/knex.ts';
import { withAdvisoryLock } from './db/locks.ts';
import { migrateLatest, migrateStatus } from './db/migrate.ts';
import { listenChannel } from './db/notify.ts';
import { createHttpApp } from './http/app.ts';
import { devMailboxRoutes } from './http/routes/dev-mailbox.ts';
import { operationsRoutes } from './http/routes/operations.ts';
import { permissionRoutes } from './http/routes/permissions.ts';
import { wellKnownRoutes } from './http/routes/well-known.ts';
import { type HttpServer, listen } from './http/server.ts';
import { createPasswordServiceFromConfig } from './identity/index.ts';
import { createKeyService, KEY_CHANGE_CHANNEL, type KeyService, resolveKek } from './keys/index.ts';
import { every } from './lifecycle/every.ts';
import { Readiness } from './lifecycle/readiness.ts';
import { createMailer, DevMailbox, type Mailer } from './mail/index.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { createAccessTokenVerifier } from './oidc/access-token-verifier.ts';
import { createFindAccount } from './oidc/account.ts';
import { installCachedClientLookup } from './oidc/client-lookup.ts';
import { installHashedClientSecrets } from './oidc/client-secret.ts';
import { deriveCookieKeys, deriveDpopNonceSecret } from './oidc/cookie-keys.ts';
import { issuerPath, mountEngine } from './oidc/mount.ts';
import { buildProvider, ENGINE_SCOPES, ProviderHolder } from './oidc/provider.ts';
import { createTenantPolicyLookup } from './oidc/tenant-policy.ts';
import { createTokenEndpoints } from './oidc/token-endpoints.ts';
import { createOutboxRelay, type OutboxRelay, purgePublished } from './outbox/index.ts';
import { createFactorGuard } from './security/index.ts';
import { createStore, type KeyValueStore, RedisStore } from './store/index.ts';
import {
  createIntrospectionCache,
  type IntrospectionCache,
  purgeExpiredRevocations,
  revocationStatus,
  TOKEN_REVOCATION_CHANNEL,
} from './tokens/index.ts';
import { createPasskeyService, relyingPartyFromConfig } from './webauthn/index.ts';

export interface ServiceOptions {
  /** Log destination (tests capture logs). */
  logDestination?: DestinationStream;
  /** Override the instance id used in events and logs. */
  instanceId?: string;
}

export interface IamService {
  readonly config: LoadedConfig['config'];
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly db: Knex;
  readonly store: KeyValueStore;
  readonly keys: KeyService;
  readonly outbox: OutboxRelay;
  readonly mailer: Mailer;
  /** The OIDC engine (rebuilt on key rotation: always read `provider()` afresh). */
  readonly oidc: { provider(): Provider; introspectionCache: IntrospectionCache };
  /** One-time demo credentials when this start created them (development only). */
  readonly demo?: DemoBootstrap;
  readonly port: number;
  readonly url: string;
  stop(reason?: string): Promise<{ drained: boolean }>;
}

type Cleanup = () => Promise<void>;

/**
 * The composition root: starts everything in order (config → database → migrations → keys
 * → background workers → HTTP) and returns a handle that stops it in reverse order.
 */
export async function startService(loaded: LoadedConfig, opts: ServiceOptions = {}): Promise<IamService> {
  const { config } = loaded;
  const logger = createLogger({ level: config.log.level, destination: opts.logDestination });
  const metrics = createMetrics();
  const readiness = new Readiness();
  readiness.onReport((r) => {
    for (const [name, c] of Object.entries(r.checks)) metrics.dependencyUp.set({ dependency: name }, c.status === 'up' ? 1 : 0);
  });
  const cleanups: Cleanup[] = [];
  const instanceId = opts.instanceId ?? `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  try {
    // Database: the configured server, or the embedded PostgreSQL 18 default.
    let embedded: EmbeddedPostgres | undefined;
    if (!config.database.url) {
      embedded = await startEmbeddedPostgres({ dataDir: config.data_dir, port: config.database.embedded_port, logger });
      cleanups.push(() => embedded?.stop() ?? Promise.resolve());
    }
    const dbUrl = config.database.url ?? (embedded as EmbeddedPostgres).url;
    const db = createDb({
      url: dbUrl,
      poolMin: config.database.pool_min,
      poolMax: config.database.pool_max,
      statementTimeoutMs: config.database.statement_timeout_ms,
    });
    cleanups.push(() => db.destroy());
    await db.raw('select 1');
    metrics.onCollect(() => {
      const s = poolStats(db);
      metrics.dbPool.set({ state: 'used' }, s.used);
      metrics.dbPool.set({ state: 'free' }, s.free);
      metrics.dbPool.set({ state: 'pending' }, s.pending);
    });
    readiness.add({
      name: 'postgres',
      required: true,
      async check() {
        const t = performance.now();
        await db.raw('select 1');
        return { status: 'up', mode: embedded ? 'embedded' : 'external', latency_ms: round(performance.now() - t) };
      },
    });

    if (config.database.migrate_on_start) {
      // Instances starting together must not race on the same migrations.
      const { applied } = await withAdvisoryLock(db, 'iam:migrations', () => migrateLatest(db));
      if (applied.length) logger.info({ applied }, 'migrations applied');
    }
    readiness.add({
      name: 'migrations',
      required: true,
      async check() {
        const { pending } = await migrateStatus(db);
        return { status: pending.length ? 'down' : 'up', pending: pending.length };
      },
    });

    // Short-lived shared state.
    const store = createStore({ url: config.redis.url, keyPrefix: config.redis.key_prefix, logger, metrics });
    cleanups.push(() => store.close());
    if (store instanceof RedisStore) await store.ready();
    readiness.add({
      name: 'redis',
      required: true,
      async check() {
        const latency = await store.ping();
        return { status: 'up', mode: store.mode, latency_ms: round(latency) };
      },
    });

    // Signing keys: bootstrap on first start, then follow rotations made by any instance.
    const kek = await resolveKek(config, logger);
    const keys = createKeyService({ db, kek, config, logger, metrics });
    await keys.start();
    cleanups.push(() => keys.stop());
    const refreshKeys = () => void keys.refresh().catch((err) => logger.warn({ err }, 'key refresh after notification failed'));
    const keyListener = listenChannel({ url: dbUrl, channel: KEY_CHANGE_CHANNEL, logger, onNotify: refreshKeys, onConnect: refreshKeys });
    cleanups.push(() => keyListener.close());
    readiness.add({
      name: 'keys',
      required: true,
      async check() {
        const access = keys.activeSigner('access');
        const refresh = keys.activeSigner('refresh');
        return { status: 'up', active: { access: access.kid, refresh: refresh.kid } };
      },
    });

    // Outbox relay: Kafka is optional for readiness — auth keeps working and the backlog waits.
    const outbox = createOutboxRelay({ db, config, logger, metrics, instanceId });
    await outbox.start();
    cleanups.push(() => outbox.stop());
    const purge = every(
      3_600_000,
      async () => {
        const cutoff = new Date(Date.now() - config.outbox.retention_days * 86_400_000);
        const purged = await purgePublished(db, cutoff);
        if (purged) logger.info({ purged }, 'purged published outbox events');
      },
      logger,
    );
    cleanups.push(async () => purge.stop());
    readiness.add({
      name: 'kafka',
      required: false,
      async check() {
        const s = outbox.status();
        const status = !s.enabled ? 'disabled' : s.connected ? 'up' : 'down';
        return {
          status,
          mode: s.enabled ? 'kafka' : 'disabled',
          connected: s.connected,
          pending: s.pending,
          parked: s.parked,
          lag_seconds: s.lagSeconds,
          lanes: s.lanes,
          last_publish_at: s.lastPublishAt,
          ...(s.disabledReason ? { disabled_reason: s.disabledReason } : {}),
          ...(s.lastError ? { last_error: s.lastError } : {}),
        };
      },
    });

    const mailer = createMailer({ smtpUrl: config.mail.smtp_url, from: config.mail.from, db, logger });
    cleanups.push(() => mailer.close());

    // First start of a development deployment: demo tenant, admin and client (printed once).
    const demo =
      config.env !== 'production' && config.bootstrap.demo
        ? await bootstrapDemo(db, { adminEmail: config.bootstrap.admin_email })
        : undefined;

    // The OIDC engine: storage adapters (PostgreSQL + Redis), clients through a cache invalidated
    // across instances, shared secrets derived from the KEK; it signs through the key service and
    // is rebuilt when the active key changes.
    const cookieKeys = deriveCookieKeys(kek, config.oidc.cookie_key_versions);
    const adapters = createAdapterFactory({ db, redisUrl: config.redis.url, keyPrefix: config.redis.key_prefix, logger });
    cleanups.push(() => adapters.close());
    await adapters.ready();
    const clientCache = createClientCache({ db, logger, listen: listenForClientChanges({ url: dbUrl, logger }) });
    cleanups.push(() => clientCache.close());
    const clientAdapter = createClientAdapter(clientCache, { engineScopes: ENGINE_SCOPES, logger });
    const introspectionCache = createIntrospectionCache({ ttlMs: config.oidc.introspection_cache_s * 1000 });
    const revocationListener = listenChannel({
      url: dbUrl,
      channel: TOKEN_REVOCATION_CHANNEL,
      logger,
      onNotify: (payload) => {
        try {
          const p = JSON.parse(payload) as { jti?: unknown; grant_id?: unknown };
          if (typeof p.jti === 'string') introspectionCache.revokeJti(p.jti);
          if (typeof p.grant_id === 'string') introspectionCache.revokeGrant(p.grant_id);
        } catch {
          introspectionCache.clear();
        }
      },
      // Revocations announced while disconnected are unknown: forget every cached positive answer.
      onConnect: () => introspectionCache.clear(),
    });
    cleanups.push(() => revocationListener.close());
    const oidcPurge = every(
      600_000,
      async () => {
        const models = await adapters.purgeExpired();
        const revocations = await purgeExpiredRevocations(db);
        if (revocations) logger.info({ revocations, models }, 'purged expired token revocations');
      },
      logger,
    );
    cleanups.push(async () => oidcPurge.stop());
    const tokenEndpoints = createTokenEndpoints({
      db,
      verifier: createAccessTokenVerifier({ issuer: config.issuer, keys }),
      cache: introspectionCache,
      maxAccessTokenTtlS: Math.max(config.oidc.access_token_ttl_s, config.oidc.client_credentials_ttl_s),
      logger,
    });
    const dpopNonceSecret = deriveDpopNonceSecret(kek);
    const findAccount = createFindAccount(db);
    const tenantPolicy = createTenantPolicyLookup(db);
    const engine = new ProviderHolder(() =>
      buildProvider({
        issuer: config.issuer,
        signers: [keys.activeSigner('access')],
        cookieKeys,
        dpopNonceSecret,
        ttl: config.oidc,
        apiAudience: apiAudience(config.issuer),
        findAccount,
        tenantPolicy,
        tokenEndpoints,
        adapter: (name) => (name === 'Client' ? clientAdapter : adapters.adapterFor(name)),
        configure: (provider) => {
          installHashedClientSecrets(provider, (clientId) => clientCache.validSecretHashes(clientId));
          installCachedClientLookup(provider, clientCache);
        },
        trustProxy: config.server.trust_proxy,
        logger,
      }),
    );
    keys.onChange(() => engine.rebuild());

    // Sign-in: passwords (argon2id, throttled per account and source, durable lockout) and the
    // same brute-force layers around second factors; both fail closed when the store is down.
    const passwords = await createPasswordServiceFromConfig(config, { store, logger });
    const factorGuard = createFactorGuard({ throttle: passwords.throttle, lockoutThreshold: config.auth.lockout_threshold, logger });
    // Passkeys (ADR-0014): same throttle and guard; unavailable (and not offered) on an IP or plain-http issuer.
    const passkeys = createPasskeyService({
      relyingParty: relyingPartyFromConfig(config),
      throttle: passwords.throttle,
      guard: factorGuard,
      logger,
    });

    const routers: Router[] = [
      operationsRoutes({ readiness, metrics, metricsEnabled: config.metrics.enabled }),
      wellKnownRoutes({ keys }),
      interactionRoutes({
        prefix: issuerPath(config.issuer),
        issuer: config.issuer,
        provider: () => engine.current,
        db,
        store,
        kek,
        cookieKeys,
        passwords,
        guard: factorGuard,
        passkeys,
        tenantPolicy,
        mailer,
        selfSignup: config.auth.self_signup,
        logger,
      }),
      permissionRoutes({
        db,
        bodyLimitKb: config.server.body_limit_kb,
        auth: {
          issuer: config.issuer,
          audience: apiAudience(config.issuer),
          jwks: () => keys.jwks(),
          isRevoked: async (t) => {
            const status = await revocationStatus(db, t);
            return status.token || status.grant;
          },
        },
      }),
    ];
    if (mailer instanceof DevMailbox && config.env !== 'production') routers.push(devMailboxRoutes({ mailbox: mailer }));
    const app = createHttpApp({
      logger,
      metrics,
      trustProxy: config.server.trust_proxy,
      cookieKeys,
      hsts: config.issuer.startsWith('https://'),
      routers,
      engine: mountEngine({
        issuer: config.issuer,
        engine: compose([tokenEndpoints.middleware, engine.middleware()]),
        jwks: () => keys.jwks(),
      }),
    });
    const http: HttpServer = await listen(app, config.server.host, config.server.http_port);
    readiness.setPhase('ready');
    const url = `http://127.0.0.1:${http.port}`;
    logger.info({ port: http.port, issuer: config.issuer }, 'iam listening');

    let stopping: Promise<{ drained: boolean }> | undefined;
    return {
      config,
      logger,
      metrics,
      readiness,
      db,
      store,
      keys,
      outbox,
      mailer,
      oidc: { provider: () => engine.current, introspectionCache },
      demo,
      port: http.port,
      url,
      stop(reason = 'stop requested') {
        stopping ??= (async () => {
          logger.info({ reason }, 'shutting down: draining requests');
          readiness.setPhase('draining');
          const result = await http.close(config.server.shutdown_timeout_ms);
          if (!result.drained) logger.warn({ in_flight: result.inFlight }, 'drain deadline reached; remaining connections closed');
          await runCleanups(cleanups, logger);
          readiness.setPhase('stopped');
          logger.info('shutdown complete');
          // Asynchronous log lines must reach stdout before the caller exits the process.
          await new Promise<void>((ok) => logger.flush(() => ok()));
          return { drained: result.drained };
        })();
        return stopping;
      },
    };
  } catch (err) {
    await runCleanups(cleanups, logger);
    throw err;
  }
}

async function runCleanups(cleanups: Cleanup[], logger: Logger): Promise<void> {
  // Reverse start order: workers first, pools last.
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      logger.warn({ err }, 'cleanup step failed');
    }
  }
}

/** The audience (RFC 8707 resource) of IAM's own REST API; never the issuer itself. */
export const apiAudience = (issuer: string) => `${issuer.replace(/\/$/, '')}/v1`;

const round = (ms: number) => Math.round(ms * 100) / 100;
