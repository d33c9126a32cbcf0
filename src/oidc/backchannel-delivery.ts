import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { Logger } from '../observability/logger.ts';

/** Announced when notifications are queued (migration 20261128100940). */
export const BACKCHANNEL_LOGOUT_CHANNEL = 'iam_backchannel_logout';

/** A claim is held this long; a crashed instance's claims are retried after it. */
const LEASE_S = 60;
/** Attempts before a notification is dropped (logged): 1 min … ~2 h apart, about 4 h in all. */
const MAX_ATTEMPTS = 8;
const BATCH = 50;

interface EngineClient {
  clientId: string;
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

interface Claimed {
  id: string;
  client_id: string;
  account_id: string;
  sid: string | null;
  attempts: number;
}

export interface DeliveryResult {
  delivered: number;
  failed: number;
  dropped: number;
}

/** Wait before attempt n+1 after n failed ones: 1 min doubling, capped at 2 h. */
export const retryDelaySeconds = (attempts: number): number => Math.min(60 * 2 ** Math.max(0, attempts - 1), 7_200);

/**
 * Delivers queued back-channel logout notifications (ADR-0019) through the engine, which signs
 * the logout token (`typ: logout+jwt`, `iss`, `aud`, `sub`, `sid`, `events`, `jti`) with the
 * issuer's key and POSTs it to the client's `backchannel_logout_uri`. Rows are claimed with
 * `FOR UPDATE SKIP LOCKED` under a lease, so any number of instances can run this at once and each
 * notification goes out once per attempt; acknowledged (200/204) ones are deleted, failed ones
 * retried with backoff, dropped after `MAX_ATTEMPTS`. A claim that finds nothing writes nothing.
 */
export async function deliverBackchannelLogouts(db: Knex, provider: () => Provider, logger: Logger): Promise<DeliveryResult> {
  const result: DeliveryResult = { delivered: 0, failed: 0, dropped: 0 };
  const { rows } = (await db.raw(
    `update backchannel_logouts set attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ?)
      where id in (select id from backchannel_logouts where next_attempt_at <= now()
                   order by next_attempt_at limit ? for update skip locked)
      returning id, client_id, account_id, sid, attempts`,
    [LEASE_S, BATCH],
  )) as { rows: Claimed[] };

  for (const row of rows) {
    let error: string | undefined;
    try {
      const client = (await provider().Client.find(row.client_id)) as unknown as EngineClient | undefined;
      if (client?.backchannelLogoutUri) await client.backchannelLogout(row.account_id, row.sid ?? '');
      // A client that is gone or no longer asks for it has nothing to be told.
    } catch (err) {
      error = (err as Error)?.message ?? String(err);
    }
    if (error === undefined) {
      await db('backchannel_logouts').where({ id: row.id }).delete();
      result.delivered += 1;
      logger.info({ client_id: row.client_id, sub: row.account_id }, 'back-channel logout delivered');
    } else if (row.attempts >= MAX_ATTEMPTS) {
      await db('backchannel_logouts').where({ id: row.id }).delete();
      result.dropped += 1;
      logger.warn({ client_id: row.client_id, sub: row.account_id, attempts: row.attempts, err: error }, 'back-channel logout given up');
    } else {
      await db('backchannel_logouts')
        .where({ id: row.id })
        .update({
          last_error: error.slice(0, 500),
          next_attempt_at: db.raw('now() + make_interval(secs => ?)', [retryDelaySeconds(row.attempts)]),
        });
      result.failed += 1;
      logger.warn({ client_id: row.client_id, attempts: row.attempts, err: error }, 'back-channel logout failed; will retry');
    }
  }
  return result;
}
