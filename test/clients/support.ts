import { randomBytes } from 'node:crypto';
import {
  CLIENTS_CHANGED_CHANNEL,
  type ClientActor,
  type ClientCache,
  createClientCache,
  listenForClientChanges,
} from '../../src/clients/index.ts';
import type { Knex } from '../../src/db/knex.ts';
import { testLogger } from '../support/services.ts';

export const actor: ClientActor = { type: 'system', id: 'test' };

/**
 * A lookup cache listening for change notifications, returned once its LISTEN connection is up
 * (proved by a probe notification coming back), so a test's first change cannot be missed.
 */
export async function listeningCache(db: Knex, url: string, opts: { ttlMs?: number; negativeTtlMs?: number } = {}): Promise<ClientCache> {
  const probe = `probe-${randomBytes(6).toString('hex')}`;
  let probed = false;
  const listen = listenForClientChanges({ url, logger: testLogger });
  const cache = createClientCache({
    db,
    logger: testLogger,
    ...opts,
    listen: (onChange) =>
      listen((clientId) => {
        if (clientId === probe) probed = true;
        onChange(clientId);
      }),
  });
  const deadline = Date.now() + 10_000;
  while (!probed) {
    if (Date.now() > deadline) throw new Error('client change listener did not connect');
    await db.raw('select pg_notify(?, ?)', [CLIENTS_CHANGED_CHANNEL, probe]);
    await sleep(25);
  }
  return cache;
}

export const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Polls until `check` returns true; resolves with the elapsed milliseconds. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs = 2_000, stepMs = 5): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
  return performance.now() - start;
}

/** Every row of the client tables (and the audit/outbox rows) as text, to look for leaked secrets. */
export async function everythingStored(db: Knex): Promise<string> {
  const tables = ['oauth_clients', 'client_secrets', 'audit_events', 'outbox_events'];
  const parts: string[] = [];
  for (const t of tables) {
    const { rows } = (await db.raw(`select row_to_json(t)::text as j from ${t} t`)) as { rows: { j: string }[] };
    parts.push(...rows.map((r) => r.j));
  }
  return parts.join('\n');
}
