import { Counter, type Registry } from 'prom-client';

type ReasonKind = 'binding' | 'override' | 'no_grant' | 'inactive';

const KINDS: readonly ReasonKind[] = ['binding', 'override', 'no_grant', 'inactive'];
const CACHE_RESULTS = ['hit', 'miss', 'stale'] as const;

/** A count kept in a plain number on the hot path. */
export interface Tally {
  inc(): void;
}

/**
 * Check-engine metrics, on the instance's registry. The check path bumps plain numbers and
 * prom-client reads them when scraped (`collect`): a labelled prom-client child hashes its label
 * set on every `inc`, which cost more than the cached check itself.
 */
export function createAuthzMetrics(registry?: Registry) {
  const registers = registry ? [registry] : [];
  // decisions[allowed ? 1 : 0][kind index]
  const decisions = [new Array<number>(KINDS.length).fill(0), new Array<number>(KINDS.length).fill(0)] as [number[], number[]];
  const cache = { hit: 0, miss: 0, stale: 0 };
  let notifications = 0;
  let notVisible = 0;

  new Counter({
    name: 'iam_authz_decisions_total',
    help: 'Authorization decisions by outcome and the kind of grant (or absence) that decided',
    labelNames: ['allowed', 'reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const allowed of [0, 1] as const) {
        KINDS.forEach((reason, i) => {
          this.labels(allowed ? 'true' : 'false', reason).inc(decisions[allowed][i] ?? 0);
        });
      }
    },
  });
  new Counter({
    name: 'iam_authz_grants_cache_total',
    help: 'Grant snapshot lookups by result (hit, miss, stale: older than the revision asked for)',
    labelNames: ['result'] as const,
    registers,
    collect() {
      this.reset();
      for (const result of CACHE_RESULTS) this.labels(result).inc(cache[result]);
    },
  });
  new Counter({
    name: 'iam_authz_revision_notifications_total',
    help: 'Authorization revision notifications received from any instance',
    registers,
    collect() {
      this.reset();
      this.inc(notifications);
    },
  });
  new Counter({
    name: 'iam_authz_revision_not_visible_total',
    help: 'Checks refused because the database had not reached the revision asked for',
    registers,
    collect() {
      this.reset();
      this.inc(notVisible);
    },
  });

  return {
    decision(allowed: boolean, kind: ReasonKind) {
      const row = decisions[allowed ? 1 : 0];
      const i = KINDS.indexOf(kind);
      row[i] = (row[i] ?? 0) + 1;
    },
    cacheHit: { inc: () => void cache.hit++ } satisfies Tally,
    cacheMiss: { inc: () => void cache.miss++ } satisfies Tally,
    cacheStale: { inc: () => void cache.stale++ } satisfies Tally,
    notifications: { inc: () => void notifications++ } satisfies Tally,
    notVisible: { inc: () => void notVisible++ } satisfies Tally,
  };
}

export type AuthzMetrics = ReturnType<typeof createAuthzMetrics>;
