import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import { queueBackchannelLogouts } from '../identity/backchannel-logouts.ts';
import type { GrantStorage } from '../identity/index.ts';
import type { Logger } from '../observability/logger.ts';
import { enqueueEvent } from '../outbox/index.ts';
import { type GrantRef, revokeUserGrants } from '../tokens/index.ts';

/**
 * A user's own engine sessions and grants, as plain functions over the durable engine models
 * (`oidc_models`, ADR-0010) for the account pages (ADR-0018): list, end (one, all, all but the
 * current), and list/revoke what applications were granted. Every query names the account, so
 * another user's session or grant is indistinguishable from one that does not exist. Ending a
 * session also revokes the grants issued through it (refresh tokens deleted, JWT access tokens
 * denied through `revoked_grants`) and queues the back-channel logout of the applications signed
 * in through it (delivered by the service, ADR-0019), in one transaction with the audit and outbox
 * records; the short-lived items (Redis) follow after the commit.
 */

/** Short-lived engine models that carry a grant id (Redis or memory). */
const GRANT_BOUND_SHORT_LIVED = ['AccessToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;
const LIVE = '(expires_at is null or expires_at > now())';
const UID = /^[A-Za-z0-9_-]{10,64}$/;

export interface SessionClient {
  clientId: string;
  name: string | null;
}

export interface AccountSession {
  /** The engine session's uid (stable for its lifetime; not the cookie value). */
  uid: string;
  signedInAt: Date | null;
  amr: string[];
  acr: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  /** Applications signed in through this session. */
  clients: SessionClient[];
  /** Where it was recorded (`user_sessions`: the account pages record their own sign-ins). */
  device: { ip: string | null; userAgent: string | null } | null;
  /** The session's last use (the engine stamps `iat` on every save, ADR-0019). */
  lastSeenAt: Date | null;
}

export interface GrantedApplication {
  clientId: string;
  name: string | null;
  firstParty: boolean;
  /** OpenID Connect scopes granted (openid, email, profile, offline_access …). */
  scopes: string[];
  /** API (resource indicator) → scopes granted there. */
  resources: Record<string, string[]>;
  firstGrantedAt: Date;
  lastGrantedAt: Date;
  grants: number;
  /** Whether the application holds a refresh token (keeps access while the user is away). */
  offline: boolean;
}

export interface EndedSessions {
  ended: string[];
  grantsRevoked: number;
}

export interface AccountEngineDeps {
  db: Knex;
  /** The adapter factory: removes the revoked grants' short-lived items from Redis/memory. */
  storage?: GrantStorage;
  /** Longest access token lifetime: how long `revoked_grants` rows must live. */
  maxAccessTokenTtlS: number;
  logger?: Logger;
}

export interface ChangeMeta {
  actor: AuditEvent['actor'];
  ip?: string;
  userAgent?: string;
  requestId?: string;
}

type Payload = Record<string, unknown>;

/** Stored payloads holding U+0000 are wrapped by the PostgreSQL adapter; unwrap like it does. */
function unwrap(payload: Payload): Payload {
  const wrapped = payload.$iam_b64;
  return typeof wrapped === 'string' ? (JSON.parse(Buffer.from(wrapped, 'base64').toString('utf8')) as Payload) : payload;
}

interface Authorization {
  clientId: string;
  sid?: string;
  grantId?: string;
  /** The engine's mark of an offline grant (refresh token): its own logout leaves such grants alone. */
  persistsLogout: boolean;
}

function authorizationsOf(payload: Payload): Authorization[] {
  const auths = payload.authorizations;
  if (!auths || typeof auths !== 'object') return [];
  return Object.entries(auths as Record<string, Payload>).map(([clientId, a]) => ({
    clientId,
    ...(typeof a?.sid === 'string' ? { sid: a.sid } : {}),
    ...(typeof a?.grantId === 'string' ? { grantId: a.grantId } : {}),
    persistsLogout: a?.persistsLogout === true,
  }));
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const latest = (a: Date | null, b: Date | null): Date | null => (a && b ? (a > b ? a : b) : (a ?? b));
const epoch = (v: unknown): Date | null => (typeof v === 'number' && Number.isFinite(v) ? new Date(v * 1000) : null);

/** Whether the engine session the account pages rest on still exists and is still this user's. */
export async function isEngineSessionActive(db: Knex, input: { userId: string; sessionUid: string }): Promise<boolean> {
  if (!UID.test(input.sessionUid)) return false;
  const row = await db('oidc_models')
    .where({ model: 'Session', uid: input.sessionUid, account_id: input.userId })
    .whereRaw(LIVE)
    .first('id');
  return row !== undefined;
}

/**
 * Records the browser of a session (user agent, address, last use) in `user_sessions`, which the
 * session list shows beside the engine's own data. The account pages call it when they sign in;
 * a sign-in elsewhere that records it too is picked up the same way.
 */
export async function recordSessionDevice(
  db: Knex,
  input: { userId: string; sessionUid: string; authTime: number; amr: readonly string[]; acr?: string; ip?: string; userAgent?: string },
): Promise<void> {
  if (!UID.test(input.sessionUid)) return;
  await db.raw(
    `insert into user_sessions as us (user_id, oidc_session_uid, acr, amr, auth_time, ip, user_agent, idle_expires_at, absolute_expires_at)
     select ?::uuid, m.uid, ?, ?::text[], to_timestamp(?), ?::inet, ?, m.expires_at, m.expires_at
       from oidc_models m
      where m.model = 'Session' and m.uid = ? and m.account_id = ? and m.expires_at > now()
     on conflict (oidc_session_uid) do update
       set ip = excluded.ip, user_agent = excluded.user_agent, last_seen_at = now(),
           idle_expires_at = greatest(us.idle_expires_at, excluded.idle_expires_at),
           absolute_expires_at = greatest(us.absolute_expires_at, excluded.absolute_expires_at)
       where us.user_id = excluded.user_id and us.revoked_at is null`,
    [
      input.userId,
      input.acr ?? null,
      [...input.amr],
      input.authTime,
      input.ip ?? null,
      input.userAgent?.slice(0, 512) ?? null,
      input.sessionUid,
      input.userId,
    ],
  );
}

/** The user's live browser sessions, newest first (at most 100), with the applications used in each. */
export async function listAccountSessions(db: Knex, userId: string): Promise<AccountSession[]> {
  const { rows } = (await db.raw(
    `select m.uid, m.payload, m.created_at, m.expires_at, host(us.ip) as ip, us.user_agent, us.last_seen_at
       from oidc_models m
       left join user_sessions us on us.oidc_session_uid = m.uid and us.user_id::text = m.account_id and us.revoked_at is null
      where m.model = 'Session' and m.account_id = ? and (m.expires_at is null or m.expires_at > now()) and m.uid is not null
      order by m.created_at desc
      limit 100`,
    [userId],
  )) as {
    rows: {
      uid: string;
      payload: Payload;
      created_at: Date;
      expires_at: Date | null;
      ip: string | null;
      user_agent: string | null;
      last_seen_at: Date | null;
    }[];
  };
  const sessions = rows.map((r) => ({ r, payload: unwrap(r.payload) }));
  const clientIds = [...new Set(sessions.flatMap(({ payload }) => authorizationsOf(payload).map((a) => a.clientId)))];
  const names = new Map<string, string>(
    clientIds.length
      ? (
          (await db('oauth_clients').whereIn('client_id', clientIds).select('client_id', 'name')) as { client_id: string; name: string }[]
        ).map((c) => [c.client_id, c.name])
      : [],
  );
  return sessions.map(({ r, payload }) => ({
    uid: r.uid,
    signedInAt: epoch(payload.loginTs),
    amr: strings(payload.amr),
    acr: typeof payload.acr === 'string' ? payload.acr : null,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    clients: authorizationsOf(payload).map((a) => ({ clientId: a.clientId, name: names.get(a.clientId) ?? null })),
    device: r.ip || r.user_agent ? { ip: r.ip, userAgent: r.user_agent } : null,
    lastSeenAt: latest(r.last_seen_at, epoch(payload.iat)),
  }));
}

/** Grants of this user among `ids` (a session's authorizations may name grants that are gone). */
async function ownGrants(trx: Knex.Transaction, userId: string, where: { ids?: string[]; clientId?: string }): Promise<GrantRef[]> {
  const q = trx('oidc_models as g')
    .leftJoin('oauth_clients as c', 'c.client_id', trx.raw(`g.payload->>'clientId'`))
    .where({ 'g.model': 'Grant', 'g.account_id': userId })
    .select('g.id', trx.raw(`g.payload->>'clientId' as client_id`), 'c.tenant_id');
  if (where.ids) q.whereIn('g.id', where.ids);
  if (where.clientId !== undefined) q.whereRaw(`g.payload->>'clientId' = ?`, [where.clientId]);
  return (await q) as GrantRef[];
}

async function purgeShortLived(deps: AccountEngineDeps, grantIds: readonly string[]): Promise<void> {
  if (!deps.storage) return;
  for (const grantId of grantIds) {
    for (const model of GRANT_BOUND_SHORT_LIVED) {
      try {
        await deps.storage.adapterFor(model).revokeByGrantId(grantId);
      } catch (err) {
        deps.logger?.warn({ err, grant_id: grantId, model }, 'could not remove short-lived items of a revoked grant');
      }
    }
  }
}

export type SessionEndReason = 'revoked_by_user' | 'signed_out_everywhere' | 'signed_out' | 'password_changed';

/**
 * Ends sessions of `userId`: the ones named in `only`, or every one except `except`. Returns the
 * uids that ended (a named uid of another user, or unknown, simply is not among them — and is
 * audited as a failure). Each ended session revokes the grants issued through it; with
 * `keepOfflineGrants` (an ordinary sign-out, as the engine's own logout does) the offline ones —
 * an application's refresh token — stay, to be removed on the applications page.
 */
export async function endAccountSessions(
  deps: AccountEngineDeps,
  input: { userId: string; only?: readonly string[]; except?: string; reason: SessionEndReason; keepOfflineGrants?: boolean },
  meta: ChangeMeta,
): Promise<EndedSessions> {
  const { db } = deps;
  const only = input.only?.filter((u) => UID.test(u));
  const { ended, grantIds } = await db.transaction(async (trx) => {
    const q = trx('oidc_models').where({ model: 'Session', account_id: input.userId }).whereRaw(LIVE).whereNotNull('uid').forUpdate();
    if (only) q.whereIn('uid', only);
    if (input.except) q.whereNot({ uid: input.except });
    const sessions = (await q.select('id', 'uid', 'payload')) as { id: string; uid: string; payload: Payload }[];
    const revocable = (a: Authorization) => (a.grantId && !(input.keepOfflineGrants && a.persistsLogout) ? [a.grantId] : []);
    const ids = [...new Set(sessions.flatMap((s) => authorizationsOf(unwrap(s.payload)).flatMap(revocable)))];
    const grants = ids.length ? await ownGrants(trx, input.userId, { ids }) : [];
    await revokeUserGrants(trx, input.userId, grants, { reason: 'logout', meta, maxAccessTokenTtlS: deps.maxAccessTokenTtlS });
    if (sessions.length) {
      // Before the rows go: the applications signed in through them are told (after the commit).
      await queueBackchannelLogouts(trx, { accountId: input.userId, reason: 'session_ended', sessionUids: sessions.map((s) => s.uid) });
      await trx('oidc_models')
        .where({ model: 'Session' })
        .whereIn(
          'id',
          sessions.map((s) => s.id),
        )
        .del();
      await trx('user_sessions')
        .where({ user_id: input.userId })
        .whereIn(
          'oidc_session_uid',
          sessions.map((s) => s.uid),
        )
        .whereNull('revoked_at')
        .update({ revoked_at: trx.fn.now(), revoked_reason: input.reason });
    }
    for (const s of sessions) {
      const own = authorizationsOf(unwrap(s.payload)).flatMap(revocable);
      await recordAudit(trx, {
        action: 'session.revoked',
        actor: meta.actor,
        target: { type: 'user', id: input.userId },
        ip: meta.ip,
        userAgent: meta.userAgent,
        requestId: meta.requestId,
        details: { session_uid: s.uid, reason: input.reason, grants_revoked: grants.filter((g) => own.includes(g.id)).length },
      });
      await enqueueEvent(trx, {
        type: 'com.infranotes.iam.auth.logout',
        key: input.userId,
        subject: input.userId,
        data: { user_id: input.userId, session_id: s.uid },
      });
    }
    const found = new Set(sessions.map((s) => s.uid));
    for (const uid of input.only ?? []) {
      if (found.has(uid)) continue;
      await recordAudit(trx, {
        action: 'session.revoked',
        outcome: 'failure',
        actor: meta.actor,
        target: { type: 'user', id: input.userId },
        ip: meta.ip,
        userAgent: meta.userAgent,
        requestId: meta.requestId,
        details: { reason: 'not_found', ...(UID.test(uid) ? { session_uid: uid } : {}) },
      });
    }
    return { ended: sessions.map((s) => s.uid), grantIds: grants.map((g) => g.id) };
  });
  await purgeShortLived(deps, grantIds);
  return { ended, grantsRevoked: grantIds.length };
}

/** The applications the user granted access, one entry per client (the account pages' own client excluded). */
export async function listAccountGrants(
  db: Knex,
  userId: string,
  opts: { exclude?: readonly string[] } = {},
): Promise<GrantedApplication[]> {
  const { rows } = (await db.raw(
    `select g.id, g.payload, g.created_at, c.client_id, c.name, c.first_party,
            exists (select 1 from oidc_models r where r.grant_id = g.id and r.model = 'RefreshToken'
                     and (r.expires_at is null or r.expires_at > now()) and r.consumed_at is null) as offline
       from oidc_models g
       left join oauth_clients c on c.client_id = g.payload->>'clientId'
      where g.model = 'Grant' and g.account_id = ? and (g.expires_at is null or g.expires_at > now())
      order by g.created_at`,
    [userId],
  )) as {
    rows: {
      id: string;
      payload: Payload;
      created_at: Date;
      client_id: string | null;
      name: string | null;
      first_party: boolean | null;
      offline: boolean;
    }[];
  };
  const exclude = new Set(opts.exclude ?? []);
  const apps = new Map<string, GrantedApplication & { scopeSet: Set<string>; resourceSets: Map<string, Set<string>> }>();
  for (const r of rows) {
    const payload = unwrap(r.payload);
    const clientId = typeof payload.clientId === 'string' ? payload.clientId : null;
    if (!clientId || exclude.has(clientId)) continue;
    let app = apps.get(clientId);
    if (!app) {
      app = {
        clientId,
        name: r.name,
        firstParty: Boolean(r.first_party),
        scopes: [],
        resources: {},
        firstGrantedAt: r.created_at,
        lastGrantedAt: r.created_at,
        grants: 0,
        offline: false,
        scopeSet: new Set(),
        resourceSets: new Map(),
      };
      apps.set(clientId, app);
    }
    app.grants += 1;
    app.lastGrantedAt = r.created_at;
    app.offline ||= Boolean(r.offline);
    const openid = payload.openid as { scope?: unknown } | undefined;
    for (const s of String(openid?.scope ?? '')
      .split(' ')
      .filter(Boolean))
      app.scopeSet.add(s);
    for (const [resource, scope] of Object.entries((payload.resources ?? {}) as Record<string, unknown>)) {
      const set = app.resourceSets.get(resource) ?? new Set<string>();
      for (const s of String(scope ?? '')
        .split(' ')
        .filter(Boolean))
        set.add(s);
      app.resourceSets.set(resource, set);
    }
  }
  return [...apps.values()].map(({ scopeSet, resourceSets, ...app }) => ({
    ...app,
    scopes: [...scopeSet].sort(),
    resources: Object.fromEntries([...resourceSets].map(([k, v]) => [k, [...v].sort()])),
  }));
}

/**
 * Revokes everything the user granted one application: every grant of theirs for `clientId` and
 * every token issued from them. Returns how many grants were revoked (0: nothing of this user's
 * for that client — including another user's — nothing changed, a failure audited).
 */
export async function revokeAccountGrants(
  deps: AccountEngineDeps,
  input: { userId: string; clientId: string },
  meta: ChangeMeta,
): Promise<number> {
  const grantIds = await deps.db.transaction(async (trx) => {
    const grants = await ownGrants(trx, input.userId, { clientId: input.clientId });
    await revokeUserGrants(trx, input.userId, grants, { reason: 'admin', meta, maxAccessTokenTtlS: deps.maxAccessTokenTtlS });
    await recordAudit(trx, {
      action: 'consent.revoked',
      outcome: grants.length ? 'success' : 'failure',
      actor: meta.actor,
      target: { type: 'user', id: input.userId },
      tenantId: grants[0]?.tenant_id ?? undefined,
      ip: meta.ip,
      userAgent: meta.userAgent,
      requestId: meta.requestId,
      details: grants.length
        ? { client_id: input.clientId, grants_revoked: grants.length }
        : { reason: 'not_found', client_id: input.clientId.slice(0, 128) },
    });
    return grants.map((g) => g.id);
  });
  await purgeShortLived(deps, grantIds);
  return grantIds.length;
}
