import type { JWK } from 'jose';
import type { Config } from '../config/index.ts';
import type { Knex } from '../db/knex.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { openPrivateKey } from './envelope.ts';
import { KeyError } from './errors.ts';
import { KEY_PURPOSES, KEY_STATES, type KeyChange, type KeyPurpose, type KeyTimings, type SigningKey } from './lifecycle.ts';
import { type KeyWriteContext, listKeys, revokeKey, rotateKey, runMaintenance } from './operations.ts';
import { LocalSigner, type Signer } from './signer.ts';
import { buildSnapshot, emptySnapshot, type KeySnapshot } from './snapshot.ts';
import { selectKeys } from './store.ts';
import { type KeySummary, toPublicJwk, toVerificationKey, type VerificationKey } from './views.ts';

export interface KeyServiceOptions {
  db: Knex;
  kek: Buffer;
  config: { keys: Pick<Config['keys'], 'publish_lead_s' | 'retire_grace_s' | 'rotation_interval_s' | 'refresh_interval_s'> };
  logger: Logger;
  metrics?: Pick<Metrics, 'signingKeys' | 'signingKeyRotations'>;
  /** Injectable clock for the rotation schedule (tests move time instead of sleeping). */
  now?: () => Date;
  /** The KMS/HSM seam: a Signer for keys whose `signer` is not `local`. */
  externalSigner?: (key: SigningKey) => Signer | undefined;
}

/** What onChange listeners receive: enough to rebuild an engine keystore. */
export interface KeySetChange {
  jwks: { keys: JWK[] };
  active: Partial<Record<KeyPurpose, string>>;
}

export interface KeyService {
  /** Bootstraps missing active keys (under the job lock), loads the set and starts the timer. */
  start(): Promise<KeyChange[]>;
  /** Clears the timer and waits for an in-flight run, so the pool can close behind it. */
  stop(): Promise<void>;
  /** Re-reads the key set; fires onChange when published or active kids changed. */
  refresh(): Promise<void>;
  /** One run of the rotation job; [] when another instance holds the lock. */
  runMaintenance(): Promise<KeyChange[]>;
  jwks(): { keys: JWK[] };
  activeSigner(purpose: KeyPurpose): Signer;
  verificationKeys(): VerificationKey[];
  list(): Promise<KeySummary[]>;
  rotate(purpose: KeyPurpose, opts?: { immediate?: boolean }): Promise<KeyChange[]>;
  revoke(kid: string, reason: string): Promise<KeyChange[]>;
  onChange(listener: (change: KeySetChange) => void): () => void;
  /** State transitions this instance performed (for audit/outbox events). */
  onTransitions(listener: (changes: KeyChange[]) => void): () => void;
}

type RotationReason = 'bootstrap' | 'scheduled' | 'manual' | 'immediate' | 'revoke';

export function createKeyService(opts: KeyServiceOptions): KeyService {
  const { db, kek, logger, metrics } = opts;
  const log = logger.child({ component: 'keys' });
  const now = opts.now ?? (() => new Date());
  const k = opts.config.keys;
  const timings: KeyTimings = { publishLeadS: k.publish_lead_s, retireGraceS: k.retire_grace_s, rotationIntervalS: k.rotation_interval_s };
  const ctx: KeyWriteContext = { db, kek, timings, now };

  let snapshot: KeySnapshot = emptySnapshot();
  // What listeners last heard; jwks() may rebuild the snapshot between refreshes without telling them.
  let notified = snapshot.fingerprint;
  let loaded = false;
  const signers = new Map<string, Signer>();
  const changeListeners = new Set<(c: KeySetChange) => void>();
  const transitionListeners = new Set<(c: KeyChange[]) => void>();
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  // Refreshes run one at a time so an older read can never overwrite a newer one.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  };

  function signerFor(key: SigningKey): Signer {
    const cached = signers.get(key.kid);
    if (cached) return cached;
    let signer: Signer | undefined;
    if (key.signer === 'local' && key.envelope) {
      signer = LocalSigner.fromPkcs8({
        kid: key.kid,
        alg: key.alg,
        publicJwk: toPublicJwk(key),
        pkcs8: openPrivateKey(kek, key.kid, key.envelope),
      });
    } else {
      signer = opts.externalSigner?.(key);
    }
    if (!signer) throw new KeyError('signer_unavailable', `no signer for key ${key.kid} (signer ${key.signer})`);
    signers.set(key.kid, signer);
    return signer;
  }

  function updateGauge(keys: SigningKey[]): void {
    if (!metrics) return;
    for (const purpose of KEY_PURPOSES) {
      for (const state of KEY_STATES) {
        if (state === 'removed') continue;
        metrics.signingKeys.set({ purpose, state }, keys.filter((x) => x.purpose === purpose && x.state === state).length);
      }
    }
  }

  function notify<T>(listeners: Set<(v: T) => void>, value: T): void {
    for (const l of listeners) {
      try {
        l(value);
      } catch (err) {
        log.error({ err }, 'signing key listener failed');
      }
    }
  }

  async function load(): Promise<void> {
    const next = buildSnapshot(await selectKeys(db), now());
    // Decrypt before swapping in, so a KEK problem leaves the previous set serving.
    for (const key of Object.values(next.active)) signerFor(key);
    const activeKidSet = new Set(Object.values(next.active).map((x) => x.kid));
    for (const kid of signers.keys()) if (!activeKidSet.has(kid)) signers.delete(kid);
    snapshot = next;
    loaded = true;
    updateGauge(next.keys);
    if (next.fingerprint !== notified) {
      notified = next.fingerprint;
      notify(changeListeners, { jwks: next.jwks, active: activeKids(next) });
    }
  }

  function record(changes: KeyChange[], reason: (c: KeyChange) => RotationReason): KeyChange[] {
    for (const c of changes) {
      log.info({ kid: c.kid, purpose: c.purpose, from: c.from, to: c.to }, 'signing key state changed');
      if (c.from === null) metrics?.signingKeyRotations.inc({ purpose: c.purpose, reason: reason(c) });
    }
    if (changes.length) notify(transitionListeners, changes);
    return changes;
  }

  async function maintain(): Promise<KeyChange[]> {
    const changes = await runMaintenance(ctx);
    if (changes === null) return [];
    return record(changes, (c) => (c.to === 'active' ? 'bootstrap' : 'scheduled'));
  }

  async function tick(): Promise<void> {
    try {
      await maintain();
      await serial(load);
    } catch (err) {
      log.error({ err }, 'signing key refresh failed; serving the previous key set');
    }
  }
  function current(): KeySnapshot {
    const at = now();
    // A retired key's grace can end between refreshes; it must leave JWKS on time.
    if (at.getTime() >= snapshot.validUntil) snapshot = buildSnapshot(snapshot.keys, at);
    return snapshot;
  }

  function scheduleTick(): void {
    if (ticking) return;
    ticking = tick().finally(() => {
      ticking = undefined;
    });
  }

  return {
    async start() {
      const changes = await maintain();
      await serial(load);
      // Another instance may hold the lock mid-bootstrap (instances starting together on an
      // empty database): wait for its commit rather than start without keys.
      for (let attempt = 0; KEY_PURPOSES.some((p) => !snapshot.active[p]) && attempt < 100; attempt++) {
        await new Promise((r) => setTimeout(r, 100));
        changes.push(...(await maintain()));
        await serial(load);
      }
      if (!timer) {
        timer = setInterval(scheduleTick, k.refresh_interval_s * 1000);
        timer.unref();
      }
      return changes;
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await ticking;
    },
    refresh: () => serial(load),
    runMaintenance: maintain,
    jwks: () => current().jwks,
    activeSigner(purpose) {
      const key = snapshot.active[purpose];
      if (!key) {
        throw new KeyError(
          'no_active_key',
          loaded ? `no active ${purpose} signing key` : 'key service not loaded: call start() or refresh() first',
        );
      }
      return signerFor(key);
    },
    verificationKeys: () => current().published.map(toVerificationKey),
    list: () => listKeys(db, now()),
    async rotate(purpose, o = {}) {
      const changes = record(await rotateKey(ctx, purpose, o), () => (o.immediate ? 'immediate' : 'manual'));
      await serial(load);
      return changes;
    },
    async revoke(kid, reason) {
      const changes = record(await revokeKey(ctx, kid, reason), () => 'revoke');
      const replaced = changes.find((c) => c.from === 'active' && c.to === 'revoked');
      if (replaced) {
        const successor = changes.find((c) => c.to === 'active');
        log.warn(
          { revoked: kid, purpose: replaced.purpose, successor: successor?.kid },
          'active signing key revoked: successor activated immediately, without the publish lead',
        );
      }
      await serial(load);
      return changes;
    },
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    onTransitions(listener) {
      transitionListeners.add(listener);
      return () => transitionListeners.delete(listener);
    },
  };
}

function activeKids(s: KeySnapshot): Partial<Record<KeyPurpose, string>> {
  const out: Partial<Record<KeyPurpose, string>> = {};
  for (const p of KEY_PURPOSES) {
    const kid = s.active[p]?.kid;
    if (kid) out[p] = kid;
  }
  return out;
}
