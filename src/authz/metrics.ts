import { Counter, type Registry } from 'prom-client';

/** Check-engine metrics, on the instance's registry; label children resolved once (hot path). */
export function createAuthzMetrics(registry?: Registry) {
  const registers = registry ? [registry] : [];
  const decisions = new Counter({
    name: 'iam_authz_decisions_total',
    help: 'Authorization decisions by outcome and the kind of grant (or absence) that decided',
    labelNames: ['allowed', 'reason'] as const,
    registers,
  });
  const cache = new Counter({
    name: 'iam_authz_grants_cache_total',
    help: 'Grant snapshot lookups by result (hit, miss, stale: older than the revision asked for)',
    labelNames: ['result'] as const,
    registers,
  });
  const invalidations = new Counter({
    name: 'iam_authz_revision_notifications_total',
    help: 'Authorization revision notifications received from any instance',
    registers,
  });
  const notVisible = new Counter({
    name: 'iam_authz_revision_not_visible_total',
    help: 'Checks refused because the database had not reached the revision asked for',
    registers,
  });
  const byReason = {
    true: {
      binding: decisions.labels('true', 'binding'),
      override: decisions.labels('true', 'override'),
      no_grant: decisions.labels('true', 'no_grant'),
      inactive: decisions.labels('true', 'inactive'),
    },
    false: {
      binding: decisions.labels('false', 'binding'),
      override: decisions.labels('false', 'override'),
      no_grant: decisions.labels('false', 'no_grant'),
      inactive: decisions.labels('false', 'inactive'),
    },
  };
  return {
    decision(allowed: boolean, kind: 'binding' | 'override' | 'no_grant' | 'inactive') {
      byReason[allowed ? 'true' : 'false'][kind].inc();
    },
    cacheHit: cache.labels('hit'),
    cacheMiss: cache.labels('miss'),
    cacheStale: cache.labels('stale'),
    notifications: invalidations,
    notVisible,
  };
}

export type AuthzMetrics = ReturnType<typeof createAuthzMetrics>;
