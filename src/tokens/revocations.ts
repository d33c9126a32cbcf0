import { isIP } from 'node:net';
import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import { enqueueEvent } from '../outbox/index.ts';

/**
 * Revocation records for tokens the engine cannot revoke itself (JWT access tokens are not
 * stored, DESIGN §9) and for revoked grants, with the `token.revoked` event and the audit event
 * written in the same transaction. PostgreSQL is the source of truth every instance reads; a
 * NOTIFY on {@link TOKEN_REVOCATION_CHANNEL} tells the other instances to drop what they cached.
 */
export const TOKEN_REVOCATION_CHANNEL = 'iam_token_revoked';
export const TOKEN_REVOKED_EVENT = 'com.infranotes.iam.token.revoked';

/** Why a token or grant was revoked (the `reason` of the `token.revoked` event). */
export type RevocationReason =
  /** The client revoked it at the revocation endpoint (RFC 7009). */
  | 'revoked_by_client'
  /** A consumed refresh token or authorization code was presented again (RFC 9700 §4.14.2, §4.2.4). */
  | 'reuse_detected'
  /** The end-user signed out (RP-initiated logout). */
  | 'logout'
  /** An administrator or an account change (password, disable) revoked it. */
  | 'admin';

/** What the revocation was about, as the `token_type` of the event. */
export type RevokedTokenType = 'access_token' | 'refresh_token' | 'authorization_code' | 'session';

export interface RequestMeta {
  actor: AuditEvent['actor'];
  requestId?: string;
  ip?: string;
  userAgent?: string;
}

export interface AccessTokenRevocation extends RequestMeta {
  jti: string;
  clientId: string;
  grantId?: string;
  tenantId?: string;
  subject?: string;
  /** When the token expires anyway: the denylist row is useless afterwards. */
  expiresAt: Date;
  reason: RevocationReason;
}

export interface GrantRevocation extends RequestMeta {
  grantId: string;
  clientId?: string;
  tenantId?: string;
  accountId?: string;
  /** The latest expiry of a self-contained token issued from the grant (now + access token TTL). */
  expiresAt: Date;
  reason: RevocationReason;
  /** The token whose use or revocation triggered it. */
  tokenType: RevokedTokenType;
}

/** A stored token the engine destroyed itself (opaque access token): only the event and audit are ours. */
export interface StoredTokenRevocation extends RequestMeta {
  /** A non-secret id of the token (for opaque tokens: SHA-256 of the value, never the value). */
  tokenId: string;
  clientId: string;
  grantId?: string;
  tenantId?: string;
  tokenType: RevokedTokenType;
  reason: RevocationReason;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuidOrUndefined = (v: string | undefined) => (v !== undefined && UUID.test(v) ? v : undefined);
const ipOrUndefined = (v: string | undefined) => (v && isIP(v) ? v : undefined);

async function notify(trx: Knex.Transaction, payload: { jti?: string; grant_id?: string }): Promise<void> {
  // Delivered at commit, to every instance (including this one) that LISTENs.
  await trx.raw('select pg_notify(?, ?)', [TOKEN_REVOCATION_CHANNEL, JSON.stringify(payload)]);
}

function audit(
  trx: Knex.Transaction,
  meta: RequestMeta,
  e: { tenantId?: string; target: { type: string; id: string }; details: Record<string, unknown> },
) {
  return recordAudit(trx, {
    action: 'token.revoked',
    actor: meta.actor,
    tenantId: uuidOrUndefined(e.tenantId),
    target: e.target,
    requestId: meta.requestId,
    ip: ipOrUndefined(meta.ip),
    userAgent: meta.userAgent,
    details: e.details,
  });
}

/**
 * Denylists one JWT access token by `jti`. Idempotent: a second revocation of the same token
 * writes nothing and emits nothing. Returns whether this call revoked it.
 */
export async function revokeAccessToken(db: Knex, r: AccessTokenRevocation): Promise<boolean> {
  return db.transaction(async (trx) => {
    const inserted = await trx('token_revocations')
      .insert({
        jti: r.jti,
        token_type: 'access_token',
        grant_id: r.grantId ?? null,
        tenant_id: uuidOrUndefined(r.tenantId) ?? null,
        client_id: r.clientId,
        subject: r.subject ?? null,
        expires_at: r.expiresAt,
        reason: r.reason,
      })
      .onConflict('jti')
      .ignore()
      .returning('jti');
    if (inserted.length === 0) return false;
    await enqueueEvent(trx, {
      type: TOKEN_REVOKED_EVENT,
      key: r.grantId ?? r.jti,
      subject: r.jti,
      tenantId: uuidOrUndefined(r.tenantId),
      data: {
        grant_id: r.grantId ?? null,
        token_type: 'access_token',
        reason: r.reason,
        revokes: 'token',
        jti: r.jti,
        client_id: r.clientId,
        expires_at: r.expiresAt.toISOString(),
      },
    });
    await audit(trx, r, {
      tenantId: r.tenantId,
      target: { type: 'access_token', id: r.jti },
      details: { client_id: r.clientId, grant_id: r.grantId ?? null, reason: r.reason },
    });
    await notify(trx, { jti: r.jti });
    return true;
  });
}

/**
 * Records that every token of a grant is revoked: self-contained (JWT) access tokens carrying
 * its `grant_id` are refused until `expiresAt`. Idempotent per grant (a repeat only extends the
 * expiry). Returns whether this call recorded it.
 */
export async function revokeGrant(db: Knex, r: GrantRevocation): Promise<boolean> {
  return db.transaction(async (trx) => {
    // Concurrent revocations of one grant (parallel replays) meet here: exactly one inserts and
    // announces it; the others only extend the expiry (xmax = 0 only for the inserting row).
    const { rows } = (await trx.raw(
      `insert into revoked_grants (grant_id, tenant_id, client_id, account_id, expires_at, reason)
       values (?, ?, ?, ?, ?, ?)
       on conflict (grant_id) do update set expires_at = greatest(revoked_grants.expires_at, excluded.expires_at)
       returning (xmax = 0) as inserted`,
      [r.grantId, uuidOrUndefined(r.tenantId) ?? null, r.clientId ?? null, r.accountId ?? null, r.expiresAt, r.reason],
    )) as { rows: { inserted: boolean }[] };
    if (!rows[0]?.inserted) return false;
    await enqueueEvent(trx, {
      type: TOKEN_REVOKED_EVENT,
      key: r.grantId,
      subject: r.grantId,
      tenantId: uuidOrUndefined(r.tenantId),
      data: {
        grant_id: r.grantId,
        token_type: r.tokenType,
        reason: r.reason,
        revokes: 'grant',
        client_id: r.clientId ?? null,
        expires_at: r.expiresAt.toISOString(),
      },
    });
    await audit(trx, r, {
      tenantId: r.tenantId,
      target: { type: 'grant', id: r.grantId },
      details: { client_id: r.clientId ?? null, account_id: r.accountId ?? null, token_type: r.tokenType, reason: r.reason },
    });
    await notify(trx, { grant_id: r.grantId });
    return true;
  });
}

/** Event and audit for a stored token the engine already destroyed (nothing to denylist). */
export async function recordStoredTokenRevocation(db: Knex, r: StoredTokenRevocation): Promise<void> {
  await db.transaction(async (trx) => {
    await enqueueEvent(trx, {
      type: TOKEN_REVOKED_EVENT,
      key: r.grantId ?? r.tokenId,
      subject: r.tokenId,
      tenantId: uuidOrUndefined(r.tenantId),
      data: { grant_id: r.grantId ?? null, token_type: r.tokenType, reason: r.reason, revokes: 'token', client_id: r.clientId },
    });
    await audit(trx, r, {
      tenantId: r.tenantId,
      target: { type: r.tokenType, id: r.tokenId },
      details: { client_id: r.clientId, grant_id: r.grantId ?? null, reason: r.reason },
    });
  });
}

export interface RevocationStatus {
  /** The token's `jti` is denylisted. */
  token: boolean;
  /** The token's grant is revoked. */
  grant: boolean;
}

/** One indexed round trip: is this token, or its grant, revoked? */
export async function revocationStatus(db: Knex, q: { jti: string; grantId?: string }): Promise<RevocationStatus> {
  const { rows } = (await db.raw(
    `select exists (select 1 from token_revocations where jti = ? and expires_at > now()) as token_revoked,
            (?::text is not null and exists (select 1 from revoked_grants where grant_id = ?::text and expires_at > now())) as grant_revoked`,
    [q.jti, q.grantId ?? null, q.grantId ?? null],
  )) as { rows: { token_revoked: boolean; grant_revoked: boolean }[] };
  const row = rows[0];
  return { token: row?.token_revoked === true, grant: row?.grant_revoked === true };
}

/** Deletes revocation rows whose tokens have expired anyway (past a grace for clock skew). */
export async function purgeExpiredRevocations(db: Knex, graceS = 300): Promise<number> {
  const cutoff = db.raw(`now() - make_interval(secs => ?)`, [graceS]);
  const a = await db('token_revocations').where('expires_at', '<', cutoff).del();
  const b = await db('revoked_grants').where('expires_at', '<', cutoff).del();
  return a + b;
}
