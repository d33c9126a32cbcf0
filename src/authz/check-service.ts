import type { Knex } from 'knex';
import { listenChannel } from '../db/notify.ts';
import { AppError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import { decisionId } from './decision-id.ts';
import { effectivePermissions, evaluate } from './evaluate.ts';
import { loadPrincipalGrants } from './grants-store.ts';
import { type AuthzMetrics, createAuthzMetrics } from './metrics.ts';
import type { DecisionReason, PrincipalGrants, PrincipalRef, ScopeRef } from './model.ts';

/** Channel the revision trigger announces `<tenant_id>:<revision>` on (migration 20261128100910). */
export const AUTHZ_REVISION_CHANNEL = 'iam_authz';

/** Most checks one batch may carry: one snapshot, bounded work per request. */
export const MAX_BATCH_CHECKS = 100;

export interface CheckOptions {
  /** Answer from authorization data at least this fresh (a revision returned by a write). */
  minRevision?: number;
}

export interface CheckResult {
  allowed: boolean;
  reason: DecisionReason;
  decisionId: string;
  /** The tenant revision the decision was made at (>= minRevision). */
  revision: number;
}

export interface BatchCheckItem {
  permission: string;
  chain: readonly ScopeRef[];
}

export interface BatchCheckResult {
  revision: number;
  results: { allowed: boolean; reason: DecisionReason; decisionId: string }[];
}

export interface EffectivePermissionsResult {
  revision: number;
  permissions: string[];
}

export interface CheckService {
  check(
    tenantId: string,
    principal: PrincipalRef,
    permission: string,
    chain: readonly ScopeRef[],
    opts?: CheckOptions,
  ): Promise<CheckResult>;
  /**
   * The engine's answer alone, for IAM's own gatekeeping (may this caller use the check API):
   * no decision id, not counted or logged as a decision — the decisions metric counts answers served.
   */
  allows(tenantId: string, principal: PrincipalRef, permission: string, chain: readonly ScopeRef[], opts?: CheckOptions): Promise<boolean>;
  batchCheck(tenantId: string, principal: PrincipalRef, items: readonly BatchCheckItem[], opts?: CheckOptions): Promise<BatchCheckResult>;
  listEffective(
    tenantId: string,
    principal: PrincipalRef,
    chain: readonly ScopeRef[],
    opts?: CheckOptions,
  ): Promise<EffectivePermissionsResult>;
  /** The (cached) grant snapshot itself, for callers that evaluate several things at once. */
  grants(tenantId: string, principal: PrincipalRef, opts?: CheckOptions): Promise<PrincipalGrants>;
  /** A tenant reached `revision` (what a notification says); without arguments, forget everything. */
  invalidate(tenantId?: string, revision?: number): void;
  stats(): { size: number; hits: number; misses: number; stale: number; notifications: number };
  close(): Promise<void>;
}

/** Subscribes to revision announcements; returns the unsubscribe function. */
export type AuthzRevisionSubscription = (onRevision: (tenantId?: string, revision?: number) => void) => () => Promise<void> | void;

/**
 * Revision announcements from every instance through PostgreSQL LISTEN. A reconnection
 * announces "everything" (undefined): what was said while disconnected is unknown.
 */
export function listenForAuthzRevisions(opts: { url: string; logger: Logger }): AuthzRevisionSubscription {
  return (onRevision) => {
    const listener = listenChannel({
      url: opts.url,
      channel: AUTHZ_REVISION_CHANNEL,
      logger: opts.logger,
      onNotify: (payload) => {
        const [tenantId, rev] = payload.split(':');
        const revision = Number(rev);
        if (tenantId && Number.isSafeInteger(revision)) onRevision(tenantId, revision);
        else onRevision();
      },
      onConnect: () => onRevision(),
    });
    return () => listener.close();
  };
}

export interface CheckServiceOptions {
  db: Knex;
  logger: Logger;
  listen?: AuthzRevisionSubscription;
  metrics?: AuthzMetrics;
  /** Safety net for a lost notification: a snapshot is never served older than this (default 60 s). */
  ttlMs?: number;
  /** Snapshots kept at most, least recently used evicted first (default 10 000). */
  maxEntries?: number;
  now?: () => Date;
  /** Where snapshots come from (tests count the reads). */
  loadGrants?: typeof loadPrincipalGrants;
}

interface Entry {
  grants: PrincipalGrants;
  expiresAt: number;
  /** `moves` when the entry was last put at the back of the LRU order. */
  movedAt: number;
}

/** Tenants whose latest revision is remembered; past this, everything is forgotten at once (safe). */
const MAX_TENANTS_TRACKED = 100_000;

/**
 * The check API's engine: per-(tenant, principal) grant snapshots in a bounded (approximate) LRU, each
 * carrying the revision it was read at. A snapshot is served only while it is at least as new
 * as (a) the newest revision any instance announced for its tenant and (b) the revision the
 * caller demands; otherwise PostgreSQL is read again. Decisions are not audited row by row (hot
 * path, ADR-0016): they are counted, and logged at debug level with their decision id.
 */
export function createCheckService(opts: CheckServiceOptions): CheckService {
  const ttlMs = opts.ttlMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? (() => new Date());
  const metrics = opts.metrics ?? createAuthzMetrics();
  const { logger } = opts;
  const loadGrants = opts.loadGrants ?? loadPrincipalGrants;
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<PrincipalGrants>>();
  const latest = new Map<string, number>();
  const counters = { hits: 0, misses: 0, stale: 0, notifications: 0 };
  /** Entries put at the back of the LRU order so far (stores and hits that moved one). */
  let moves = 0;
  // A hit moves its entry to the back only once it has fallen into the older half: fewer than
  // this many entries went behind it since, so it is not next in line for eviction. Moving on
  // every hit (a Map delete and set) cost as much as the rest of a cached check.
  const moveAfter = Math.max(1, Math.floor(maxEntries / 2));

  const noteRevision = (tenantId: string, revision: number) => {
    const known = latest.get(tenantId) ?? 0;
    if (revision <= known) return;
    if (!latest.has(tenantId) && latest.size >= MAX_TENANTS_TRACKED) {
      entries.clear();
      inflight.clear();
      latest.clear();
    }
    latest.set(tenantId, revision);
  };

  const invalidate = (tenantId?: string, revision?: number) => {
    if (tenantId === undefined) {
      entries.clear();
      inflight.clear();
      latest.clear();
      return;
    }
    if (revision !== undefined) {
      noteRevision(tenantId, revision);
      return;
    }
    // Without a revision, anything cached for the tenant is suspect.
    const prefix = `${tenantId}|`;
    for (const k of entries.keys()) if (k.startsWith(prefix)) entries.delete(k);
    for (const k of inflight.keys()) if (k.startsWith(prefix)) inflight.delete(k);
  };

  const unsubscribe = opts.listen?.((tenantId, revision) => {
    counters.notifications++;
    metrics.notifications.inc();
    invalidate(tenantId, revision);
  });

  const store = (key: string, grants: PrincipalGrants) => {
    entries.delete(key);
    entries.set(key, { grants, expiresAt: Date.now() + ttlMs, movedAt: ++moves });
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  };

  const load = (key: string, tenantId: string, principal: PrincipalRef): Promise<PrincipalGrants> => {
    const pending = inflight.get(key);
    if (pending) return pending;
    const p = loadGrants(opts.db, tenantId, principal).then(
      (grants) => {
        if (inflight.get(key) === p) inflight.delete(key);
        noteRevision(tenantId, grants.revision);
        // The snapshot carries its own revision, so keeping it is safe even if a notification
        // arrived meanwhile: it is served only while nothing newer is known.
        if (grants.revision >= (latest.get(tenantId) ?? 0)) store(key, grants);
        return grants;
      },
      (err: unknown) => {
        if (inflight.get(key) === p) inflight.delete(key);
        throw err;
      },
    );
    inflight.set(key, p);
    return p;
  };

  const grantsFor = async (tenantId: string, principal: PrincipalRef, minRevision = 0): Promise<PrincipalGrants> => {
    const key = `${tenantId}|${principal.type}|${principal.id}`;
    const entry = entries.get(key);
    if (entry) {
      const floor = latest.get(tenantId) ?? 0;
      if (entry.expiresAt > Date.now() && entry.grants.revision >= floor) {
        if (entry.grants.revision >= minRevision) {
          counters.hits++;
          metrics.cacheHit.inc();
          if (moves - entry.movedAt >= moveAfter) {
            entries.delete(key);
            entries.set(key, entry);
            entry.movedAt = ++moves;
          }
          return entry.grants;
        }
        counters.stale++;
        metrics.cacheStale.inc();
      }
    }
    counters.misses++;
    metrics.cacheMiss.inc();
    let grants = await load(key, tenantId, principal);
    if (grants.revision < minRevision) {
      // A shared load may have started before the caller's write committed: read once more, alone.
      inflight.delete(key);
      grants = await load(key, tenantId, principal);
    }
    if (grants.revision < minRevision) {
      metrics.notVisible.inc();
      throw new AppError('revision_not_visible', {
        detail: `the tenant's authorization data is at revision ${grants.revision}, older than the ${minRevision} asked for`,
        extensions: { current_revision: grants.revision },
      });
    }
    return grants;
  };

  const record = (
    tenantId: string,
    principal: PrincipalRef,
    permission: string,
    chain: readonly ScopeRef[],
    id: string,
    allowed: boolean,
    reason: DecisionReason,
    revision: number,
  ) => {
    metrics.decision(allowed, reason.kind);
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        { decision_id: id, tenant_id: tenantId, principal, permission, chain, allowed, reason, revision },
        'authorization decision',
      );
    }
  };

  return {
    async check(tenantId, principal, permission, chain, o = {}) {
      const grants = await grantsFor(tenantId, principal, o.minRevision);
      const at = now();
      const d = evaluate(grants, permission, chain, at);
      const id = decisionId(at.getTime());
      record(tenantId, principal, permission, chain, id, d.allowed, d.reason, grants.revision);
      return { allowed: d.allowed, reason: d.reason, decisionId: id, revision: grants.revision };
    },

    async allows(tenantId, principal, permission, chain, o = {}) {
      const grants = await grantsFor(tenantId, principal, o.minRevision);
      return evaluate(grants, permission, chain, now()).allowed;
    },

    async batchCheck(tenantId, principal, items, o = {}) {
      if (items.length > MAX_BATCH_CHECKS) {
        throw new AppError('validation_failed', { detail: `at most ${MAX_BATCH_CHECKS} checks per batch` });
      }
      const grants = await grantsFor(tenantId, principal, o.minRevision);
      const at = now();
      const results = items.map((item) => {
        const d = evaluate(grants, item.permission, item.chain, at);
        const id = decisionId(at.getTime());
        record(tenantId, principal, item.permission, item.chain, id, d.allowed, d.reason, grants.revision);
        return { allowed: d.allowed, reason: d.reason, decisionId: id };
      });
      return { revision: grants.revision, results };
    },

    async listEffective(tenantId, principal, chain, o = {}) {
      const grants = await grantsFor(tenantId, principal, o.minRevision);
      return { revision: grants.revision, permissions: [...effectivePermissions(grants, chain, now())].sort() };
    },

    grants: (tenantId, principal, o = {}) => grantsFor(tenantId, principal, o.minRevision),
    invalidate,
    stats: () => ({ size: entries.size, ...counters }),
    async close() {
      await unsubscribe?.();
    },
  };
}
