import type Router from '@koa/router';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { DestinationStream } from 'pino';
import { createClientAdapter } from '../adapters/client.ts';
import { createAdapterFactory } from '../adapters/index.ts';
import { interactionRoutes } from '../interactions/index.ts';
import { createSignInWriteQueue } from '../interactions/sign-in-writes.ts';
import { ACCOUNT_CLIENT_ID, ensureAccountClient } from './account/index.ts';
import { createCallerAuthenticator } from './authz/caller-auth.ts';
import { createCheckApi } from './authz/check-api.ts';
import { type CheckService, createCheckService, listenForAuthzRevisions } from './authz/check-service.ts';
import { createClientWorkloads } from './authz/client-workloads.ts';
import { createAuthzMetrics } from './authz/metrics.ts';
import { bootstrapDemo, type DemoBootstrap } from './bootstrap/demo.ts';
import { createClientCache, listenForClientChanges } from './clients/index.ts';
import type { LoadedConfig } from './config/index.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './db/embedded.ts';
import { createDb, type Knex, poolStats } from './db/knex.ts';
import { withAdvisoryLock } from './db/locks.ts';
import { migrateLatest, migrateStatus } from './db/migrate.ts';
import { listenChannel } from './db/notify.ts';
import { AppError } from './errors/index.ts';
import { authorizationService } from './grpc/authorization.ts';
import { type GrpcServer, startGrpcServer } from './grpc/server.ts';
import { createHttpApp } from './http/app.ts';
import { accountRoutes } from './http/routes/account/index.ts';
import { adminRoutes } from './http/routes/admin/index.ts';
import { authzRoutes } from './http/routes/authz.ts';
import { devMailboxRoutes } from './http/routes/dev-mailbox.ts';
import { operationsRoutes } from './http/routes/operations.ts';
import { permissionRoutes } from './http/routes/permissions.ts';
import { wellKnownRoutes } from './http/routes/well-known.ts';
import { type HttpServer, listen } from './http/server.ts';
import { createPasswordServiceFromConfig, purgePendingSignUps } from './identity/index.ts';
import { createKeyService, KEY_CHANGE_CHANNEL, type KeyService, resolveKek } from './keys/index.ts';
import { every } from './lifecycle/every.ts';
import { Readiness } from './lifecycle/readiness.ts';
import { createMailer, DevMailbox, type Mailer } from './mail/index.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { createAccessTokenVerifier } from './oidc/access-token-verifier.ts';
import { createFindAccount } from './oidc/account.ts';
import { BACKCHANNEL_LOGOUT_CHANNEL, deliverBackchannelLogouts } from './oidc/backchannel-delivery.ts';
import { installCachedClientLookup } from './oidc/client-lookup.ts';
import { installHashedClientSecrets } from './oidc/client-secret.ts';
import { deriveCookieKeys, deriveDpopNonceSecret } from './oidc/cookie-keys.ts';
import { issuerPath, mountEngine } from './oidc/mount.ts';
import { buildProvider, ENGINE_SCOPES, ProviderHolder } from './oidc/provider.ts';
import { createTokenRoles } from './oidc/role-claims.ts';
import { createTenantPolicyLookup } from './oidc/tenant-policy.ts';
import { createTenantSelection } from './oidc/tenant-selection.ts';
import { createTokenEndpoints } from './oidc/token-endpoints.ts';
import { createOutboxRelay, type OutboxRelay, purgePublished } from './outbox/index.ts';
import { createFactorGuard } from './security/index.ts';
import { createStore, type KeyValueStore, RedisStore } from './store/index.ts';
import { ensureInvitationClient, INVITATION_CLIENT_ID, purgeDeletedTenants, purgeExpiredIdempotencyKeys } from './tenancy/index.ts';
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
  /** The authorization check engine (ADR-0016). */
  readonly authz: { checks: CheckService };
  /** Port of the gRPC listener, when it runs. */
  readonly grpcPort?: number;
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
  // The longest access token lifetime: how long a grant's revocation record must outlive the grant.
  const maxAccessTokenTtlS = Math.max(config.oidc.access_token_ttl_s, config.oidc.client_credentials_ttl_s);
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
    // Account self-service (ADR-0018): its first-party client, kept in line with the issuer.
    const accountEnabled = config.account.enabled && (await ensureAccountConsole(db, config.issuer, logger));
    // Invitations are accepted in the browser through a sign-in as their own first-party client.
    await ensureInvitationClient(db, config.issuer).catch((err: unknown) => {
      if (!(err instanceof AppError && err.code === 'validation_failed')) throw err;
      logger.warn(
        { err },
        'invitation acceptance disabled: the issuer cannot be a redirect URI of its client (use https, or http on loopback)',
      );
    });

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
    // Authorization check API (ADR-0016): grant snapshots per instance, refreshed by revision
    // NOTIFY; its callers' verified tokens cached until a revocation NOTIFY evicts them.
    const authzChecks = createCheckService({
      db,
      logger,
      metrics: createAuthzMetrics(metrics.registry),
      listen: listenForAuthzRevisions({ url: dbUrl, logger }),
      ttlMs: config.authz.cache_ttl_s * 1000,
      maxEntries: config.authz.cache_max_entries,
    });
    cleanups.push(() => authzChecks.close());
    const authzCallers = createCallerAuthenticator({
      issuer: config.issuer,
      audience: apiAudience(config.issuer),
      jwks: () => keys.jwks(),
      isRevoked: async (t) => {
        const status = await revocationStatus(db, t);
        return status.token || status.grant;
      },
      ttlMs: config.oidc.introspection_cache_s * 1000,
    });
    const clientWorkloads = createClientWorkloads({ db });
    const authzApi = createCheckApi({ db, checks: authzChecks, workloads: clientWorkloads });
    const revocationListener = listenChannel({
      url: dbUrl,
      channel: TOKEN_REVOCATION_CHANNEL,
      logger,
      onNotify: (payload) => {
        try {
          const p = JSON.parse(payload) as { jti?: unknown; grant_id?: unknown };
          if (typeof p.jti === 'string') introspectionCache.revokeJti(p.jti);
          if (typeof p.grant_id === 'string') introspectionCache.revokeGrant(p.grant_id);
          if (typeof p.jti === 'string') authzCallers.revokeJti(p.jti);
          if (typeof p.grant_id === 'string') authzCallers.revokeGrant(p.grant_id);
        } catch {
          introspectionCache.clear();
          authzCallers.clear();
        }
      },
      // Revocations announced while disconnected are unknown: forget every cached positive answer.
      onConnect: () => {
        introspectionCache.clear();
        authzCallers.clear();
      },
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
    // Self sign-ups nobody verified within the link's window (one instance at a time: advisory lock).
    const signUpPurge = every(
      3_600_000,
      async () => {
        const { purged } = await purgePendingSignUps(db);
        if (purged) logger.info({ purged }, 'purged unverified sign-ups');
      },
      logger,
    );
    cleanups.push(async () => signUpPurge.stop());
    const tokenEndpoints = createTokenEndpoints({
      db,
      verifier: createAccessTokenVerifier({ issuer: config.issuer, keys }),
      cache: introspectionCache,
      maxAccessTokenTtlS,
      logger,
    });
    const dpopNonceSecret = deriveDpopNonceSecret(kek);
    const findAccount = createFindAccount(db);
    const tenantPolicy = createTenantPolicyLookup(db);
    // The tenant of each grant: picked at sign-in or named by `tenant`, carried as `tid` (issue 5).
    const tenantSelection = createTenantSelection(db, { tenantless: [ACCOUNT_CLIENT_ID, INVITATION_CLIENT_ID] });
    // A completed sign-in's writes join the resume request's transaction (ADR-0015); those of a
    // login never resumed are written by the sweep after their grace period.
    const signInWrites = createSignInWriteQueue({ db, store, logger });
    const signInWriteSweep = every(5_000, async () => void (await signInWrites.sweep()), logger);
    cleanups.push(async () => signInWriteSweep.stop());
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
        tenantSelection,
        tokenEndpoints,
        adapter: (name) => (name === 'Client' ? clientAdapter : adapters.adapterFor(name)),
        configure: (provider) => {
          installHashedClientSecrets(provider, (clientId) => clientCache.validSecretHashes(clientId));
          installCachedClientLookup(provider, clientCache);
        },
        trustProxy: config.server.trust_proxy,
        loopbackFetch: config.env !== 'production',
        claimSignInWrites: (uid) => signInWrites.claim(uid),
        tokenRoles: createTokenRoles({ checks: authzChecks, workloads: clientWorkloads }),
        logger,
      }),
    );
    keys.onChange(() => engine.rebuild());
    // Back-channel logout of sessions ended outside a browser request (a disabled user, ADR-0019):
    // queued in PostgreSQL, delivered by whichever instance claims them; a NOTIFY wakes us at once.
    const deliverLogouts = async () => {
      await deliverBackchannelLogouts(db, () => engine.current, logger);
    };
    const backchannelJob = every(5_000, deliverLogouts, logger);
    cleanups.push(async () => backchannelJob.stop());
    const wakeDelivery = () => void deliverLogouts().catch((err) => logger.warn({ err }, 'back-channel logout delivery failed'));
    const backchannelListener = listenChannel({
      url: dbUrl,
      channel: BACKCHANNEL_LOGOUT_CHANNEL,
      logger,
      onNotify: wakeDelivery,
      onConnect: wakeDelivery,
    });
    cleanups.push(() => backchannelListener.close());

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

    // Bearer tokens of IAM's own API (Profile A): our issuer and audience, live keys, not revoked.
    const apiAuth = {
      issuer: config.issuer,
      audience: apiAudience(config.issuer),
      jwks: () => keys.jwks(),
      isRevoked: async (t: { jti: string; grantId?: string }) => {
        const status = await revocationStatus(db, t);
        return status.token || status.grant;
      },
    };
    // What the server-rendered pages (sign-in and /account) share.
    const pageDeps = {
      prefix: issuerPath(config.issuer),
      issuer: config.issuer,
      provider: () => engine.current,
      db,
      store,
      kek,
      cookieKeys,
      passwords,
      passkeys,
    };
    const routers: Router[] = [
      operationsRoutes({ readiness, metrics, metricsEnabled: config.metrics.enabled }),
      wellKnownRoutes({ keys }),
      interactionRoutes({
        ...pageDeps,
        guard: factorGuard,
        tenantPolicy,
        mailer,
        selfSignup: config.auth.self_signup,
        signInWrites,
        logger,
      }),
      permissionRoutes({
        db,
        bodyLimitKb: config.server.body_limit_kb,
        auth: apiAuth,
      }),
    ];
    routers.push(authzRoutes({ api: authzApi, auth: authzCallers, bodyLimitKb: config.server.body_limit_kb }));
    // Admin REST API (ADR-0017): tenants, members, invitations, roles, bindings, overrides,
    // delegations; deleted tenants and expired idempotency records are purged in the background.
    routers.push(
      ...adminRoutes({
        db,
        bodyLimitKb: config.server.body_limit_kb,
        auth: apiAuth,
        mailer,
        issuer: config.issuer,
        productName: 'InfraNotes',
        invitationTtlS: config.tenancy.invitation_ttl_s,
        deletionRetentionDays: config.tenancy.deletion_retention_days,
        idempotencyTtlS: config.tenancy.idempotency_ttl_s,
        memberTokens: { maxAccessTokenTtlS },
      }),
    );
    const tenancyPurge = every(
      3_600_000,
      async () => {
        const tenants = await purgeDeletedTenants(db);
        const idempotencyKeys = await purgeExpiredIdempotencyKeys(db);
        if (tenants || idempotencyKeys) {
          logger.info({ tenants, idempotency_keys: idempotencyKeys }, 'purged deleted tenants and idempotency records');
        }
      },
      logger,
    );
    cleanups.push(async () => tenancyPurge.stop());
    if (accountEnabled) {
      routers.push(
        accountRoutes({
          ...pageDeps,
          mail: { mailer, issuer: config.issuer, productName: 'InfraNotes', logger },
          engine: {
            db,
            storage: adapters,
            maxAccessTokenTtlS,
            logger,
          },
          recentAuthS: config.account.recent_auth_s,
          sessionIdleS: config.account.session_idle_s,
          sessionMaxS: config.account.session_max_s,
          passwordMinLength: { withoutMfa: config.auth.password_min_length, withMfa: config.auth.password_min_length_with_mfa },
          logger,
        }),
      );
    }
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
    // gRPC (Profile C): mutual TLS when configured; plaintext only on loopback and never in production.
    let grpcServer: GrpcServer | undefined;
    const g = config.grpc;
    const grpcTls =
      g.tls_cert_file && g.tls_key_file && g.tls_client_ca_file
        ? { certFile: g.tls_cert_file, keyFile: g.tls_key_file, clientCaFile: g.tls_client_ca_file }
        : undefined;
    if (g.enabled && !grpcTls && config.env === 'production') {
      logger.warn('gRPC not started: production requires mutual TLS (grpc.tls_cert_file, tls_key_file, tls_client_ca_file)');
    } else if (g.enabled) {
      const authorization = authorizationService({ api: authzApi, auth: authzCallers, logger });
      grpcServer = await startGrpcServer({
        host: g.host,
        port: g.port ?? (config.env === 'test' ? 0 : 50051),
        tls: grpcTls,
        logger,
        register: (server) => server.addService(authorization.definition, authorization.implementation),
      });
      const started = grpcServer;
      cleanups.push(() => started.close(config.server.shutdown_timeout_ms));
    }
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
      authz: { checks: authzChecks },
      grpcPort: grpcServer?.port,
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

/** The account pages' client; false (pages off, logged) when this issuer cannot carry its redirect URI. */
async function ensureAccountConsole(db: Knex, issuer: string, logger: Logger): Promise<boolean> {
  try {
    await ensureAccountClient(db, issuer);
    return true;
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'validation_failed')) throw err;
    logger.warn({ err }, 'account pages disabled: the issuer cannot be a redirect URI of their client (use https, or http on loopback)');
    return false;
  }
}

/** The audience (RFC 8707 resource) of IAM's own REST API; never the issuer itself. */
export const apiAudience = (issuer: string) => `${issuer.replace(/\/$/, '')}/v1`;

const round = (ms: number) => Math.round(ms * 100) / 100;
