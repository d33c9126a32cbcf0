import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import { AppError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import { enqueueEvent } from '../outbox/index.ts';
import { type GrantRef, revokeUserGrants } from '../tokens/index.ts';
import { queueBackchannelLogouts } from './backchannel-logouts.ts';
import type { PasswordService } from './passwords.ts';

/**
 * User administration (operator CLI, admin API): create, list, show, reset a password, disable
 * and enable. Every change is audited and announced (`com.infranotes.iam.user.*`, keyed by the
 * user id, ids only) in the transaction that makes it. Disabling ends every session and grant of
 * the user (issue 4, item 9); the engine's `findAccount` refuses disabled users besides.
 */

export type UserActor = AuditEvent['actor'];

export interface UserRecord {
  id: string;
  email: string | null;
  email_verified: boolean;
  display_name: string | null;
  status: 'active' | 'disabled';
  has_password: boolean;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  disabled_at: string | null;
}

export interface CreateUserInput {
  email: string;
  /** Checked against the password policy; without one the user has no password (magic link, passkey, federation). */
  password?: string;
  displayName?: string;
}

/** The short-lived engine models (Redis or memory) that carry a grant id. */
const GRANT_BOUND_SHORT_LIVED = ['AccessToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

/** The part of the storage adapter factory (adapters/index.ts) disabling needs. */
export interface GrantStorage {
  adapterFor(name: string): { revokeByGrantId(grantId: string): Promise<unknown> };
}

export interface DisableResult {
  user: UserRecord;
  /** False when the user was already disabled (the sweep of sessions and grants runs anyway). */
  changed: boolean;
  grants_revoked: number;
  sessions_ended: number;
  /** Whether short-lived items (opaque access tokens, codes) were removed from Redis/memory too. */
  short_lived_purged: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^@\s]+@[^@\s]+$/;
const EVENT = (name: 'created' | 'disabled' | 'enabled') => `com.infranotes.iam.user.${name}`;

/** Trimmed, NFC, lower-cased; refused (validation_failed) when it is not an address. */
export function normalizeEmail(email: unknown): string {
  const e = typeof email === 'string' ? email.trim().normalize('NFC').toLowerCase() : '';
  if (!e || e.length > 320 || !EMAIL.test(e)) {
    throw new AppError('validation_failed', {
      detail: 'email is not a valid address',
      invalidParams: [{ name: 'email', reason: 'invalid' }],
    });
  }
  return e;
}

interface UserRow {
  id: string;
  email: string | null;
  email_verified_at: Date | null;
  display_name: string | null;
  status: 'active' | 'disabled';
  has_password: boolean;
  created_at: Date;
  updated_at: Date;
  last_login_at: Date | null;
  disabled_at: Date | null;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

function toRecord(r: UserRow): UserRecord {
  return {
    id: r.id,
    email: r.email,
    email_verified: r.email_verified_at !== null,
    display_name: r.display_name,
    status: r.status,
    has_password: Boolean(r.has_password),
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
    last_login_at: iso(r.last_login_at),
    disabled_at: iso(r.disabled_at),
  };
}

function selectUsers(db: Knex | Knex.Transaction) {
  return db('users as u')
    .whereNull('u.deleted_at')
    .select(
      'u.id',
      'u.email',
      'u.email_verified_at',
      'u.display_name',
      'u.status',
      'u.created_at',
      'u.updated_at',
      'u.last_login_at',
      'u.disabled_at',
      db.raw('exists (select 1 from password_credentials pc where pc.user_id = u.id) as has_password'),
    );
}

/** A non-deleted user by id or (case-insensitively) by email; `not_found` otherwise. */
export async function getUser(db: Knex | Knex.Transaction, idOrEmail: string): Promise<UserRecord> {
  const ref = typeof idOrEmail === 'string' ? idOrEmail.trim() : '';
  const q = selectUsers(db);
  if (UUID.test(ref)) q.where('u.id', ref);
  else q.whereRaw('lower(u.email) = lower(?)', [ref]);
  const row = (await q.first()) as UserRow | undefined;
  if (!row) throw new AppError('not_found', { detail: `no user with id or email "${ref}"` });
  return toRecord(row);
}

/** Users ordered by id (UUIDv7: creation order); `after` pages; `email` filters by substring. */
export async function listUsers(db: Knex, opts: { limit?: number; after?: string; email?: string } = {}): Promise<UserRecord[]> {
  const limit = opts.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new AppError('validation_failed', { detail: 'limit must be an integer from 1 to 1000' });
  }
  const q = selectUsers(db).orderBy('u.id').limit(limit);
  if (opts.after !== undefined) {
    if (!UUID.test(opts.after)) throw new AppError('validation_failed', { detail: 'after must be a user id' });
    q.where('u.id', '>', opts.after);
  }
  if (opts.email) q.whereRaw(`lower(u.email) like ? escape '\\'`, [`%${opts.email.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`]);
  return ((await q) as UserRow[]).map(toRecord);
}

function needPasswords(passwords: PasswordService | undefined): PasswordService {
  if (!passwords) throw new TypeError('a password service is needed to set a password');
  return passwords;
}

/** Creates an active user; email unique (case-insensitively) among non-deleted users (`conflict`). */
export async function createUser(
  db: Knex,
  input: CreateUserInput,
  actor: UserActor,
  deps: { passwords?: PasswordService } = {},
): Promise<UserRecord> {
  const email = normalizeEmail(input.email);
  const displayName = input.displayName?.trim() || null;
  if (displayName && displayName.length > 200)
    throw new AppError('validation_failed', { detail: 'display name longer than 200 characters' });
  const passwords = input.password === undefined ? undefined : needPasswords(deps.passwords);
  if (passwords && input.password !== undefined) {
    // Before any write: a refused password creates nothing.
    const verdict = passwords.checkPolicy(input.password, { context: { email, displayName } });
    if (!verdict.ok) {
      throw new AppError('validation_failed', {
        detail: 'The password does not meet the password policy',
        invalidParams: verdict.reasons.map((reason) => ({ name: 'password', reason })),
        extensions: { reasons: verdict.reasons, messages: verdict.messages },
      });
    }
  }
  const id = await db.transaction(async (trx) => {
    const taken = await trx('users').whereNull('deleted_at').whereRaw('lower(email) = lower(?)', [email]).first('id');
    if (taken) throw new AppError('conflict', { detail: 'a user with this email already exists' });
    let row: { id: string } | undefined;
    try {
      [row] = await trx('users').insert({ email, display_name: displayName }).returning('id');
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new AppError('conflict', { detail: 'a user with this email already exists' });
      throw err;
    }
    if (!row) throw new Error('user insert returned no row');
    if (passwords && input.password !== undefined) await passwords.setPassword(trx, row.id, input.password, { actor, via: 'admin' });
    await recordAudit(trx, {
      action: 'user.created',
      actor,
      target: { type: 'user', id: row.id },
      details: { has_password: input.password !== undefined },
    });
    await enqueueEvent(trx, { type: EVENT('created'), key: row.id, subject: row.id, data: { id: row.id } });
    return row.id;
  });
  return getUser(db, id);
}

/** Administrator password reset: policy, argon2id, lockout cleared, audited (`auth.password.changed`, via admin). */
export async function setUserPassword(
  db: Knex,
  passwords: PasswordService,
  idOrEmail: string,
  password: string,
  actor: UserActor,
  opts: { mustChange?: boolean } = {},
): Promise<UserRecord> {
  const user = await getUser(db, idOrEmail);
  await db.transaction((trx) => passwords.setPassword(trx, user.id, password, { actor, via: 'admin', mustChange: opts.mustChange }));
  return getUser(db, user.id);
}

export interface DisableOptions {
  /** Longest access token lifetime (`max(oidc.access_token_ttl_s, oidc.client_credentials_ttl_s)`): how long revoked_grants rows must live. */
  maxAccessTokenTtlS?: number;
  logger?: Logger;
}

/**
 * Disables a user and ends every session and grant of theirs, in one PostgreSQL transaction:
 * each grant is revoked (`revoked_grants`, so JWT access tokens die too; `token.revoked` event),
 * its durable tokens (refresh tokens) and the Grant rows deleted, the engine `Session` rows deleted,
 * `user_sessions` marked revoked, back-channel logout of their applications queued (delivered by the
 * service, ADR-0019). After the commit, with `storage` (the adapter factory), the
 * grants' short-lived items (opaque access tokens, codes) go from Redis/memory too; without it they
 * expire within their TTL, and the engine refuses them meanwhile (the account is disabled).
 */
export async function disableUser(
  db: Knex,
  storage: GrantStorage | undefined,
  idOrEmail: string,
  actor: UserActor,
  reason: string,
  opts: DisableOptions = {},
): Promise<DisableResult> {
  const why = typeof reason === 'string' ? reason.trim() : '';
  if (!why || why.length > 500) throw new AppError('validation_failed', { detail: 'a reason (at most 500 characters) is required' });
  const { id: userId } = await getUser(db, idOrEmail);
  const ttl = opts.maxAccessTokenTtlS ?? 86_400;
  const { changed, grantIds, sessionsEnded } = await db.transaction(async (trx) => {
    const row = (await trx('users').where({ id: userId }).whereNull('deleted_at').forUpdate().first('status')) as
      | { status: string }
      | undefined;
    if (!row) throw new AppError('not_found', { detail: 'no such user' });
    const changed = row.status !== 'disabled';
    if (changed) await trx('users').where({ id: userId }).update({ status: 'disabled', disabled_at: trx.fn.now() });

    const { rows: grants } = (await trx.raw(
      `select g.id, g.payload->>'clientId' as client_id, c.tenant_id
         from (select id, payload from oidc_models where model = 'Grant' and account_id = ?
               union
               select distinct grant_id as id, '{}'::jsonb as payload from oidc_models
                where model <> 'Grant' and account_id = ? and grant_id is not null
                  and not exists (select 1 from oidc_models x where x.model = 'Grant' and x.id = oidc_models.grant_id)) g
         left join oauth_clients c on c.client_id = g.payload->>'clientId'`,
      [userId, userId],
    )) as { rows: GrantRef[] };
    await revokeUserGrants(trx, userId, grants, { reason: 'admin', meta: { actor }, maxAccessTokenTtlS: ttl });
    const grantIds = grants.map((g) => g.id);
    // The applications signed in through the sessions hear of it (back-channel logout, after the commit).
    const backchannel = await queueBackchannelLogouts(trx, { accountId: userId, reason: 'user_disabled' });
    // Durable models of the user not bound to a grant we saw (sessions; stray refresh tokens).
    await trx('oidc_models').whereIn('model', ['Session', 'RefreshToken']).where({ account_id: userId }).del();
    const sessionsEnded = await trx('user_sessions')
      .where({ user_id: userId })
      .whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now(), revoked_reason: 'user_disabled' });

    if (changed) {
      await recordAudit(trx, {
        action: 'user.disabled',
        actor,
        target: { type: 'user', id: userId },
        details: { reason: why, grants_revoked: grantIds.length, sessions_ended: sessionsEnded, backchannel_logouts: backchannel },
      });
      await enqueueEvent(trx, { type: EVENT('disabled'), key: userId, subject: userId, data: { id: userId } });
    }
    return { changed, grantIds, sessionsEnded };
  });

  let purged = false;
  if (storage) {
    purged = true;
    for (const grantId of grantIds) {
      for (const model of GRANT_BOUND_SHORT_LIVED) {
        try {
          await storage.adapterFor(model).revokeByGrantId(grantId);
        } catch (err) {
          purged = false;
          opts.logger?.warn({ err, grant_id: grantId, model }, 'could not remove short-lived items of a revoked grant');
        }
      }
    }
  }
  return {
    user: await getUser(db, userId),
    changed,
    grants_revoked: grantIds.length,
    sessions_ended: sessionsEnded,
    short_lived_purged: purged,
  };
}

/** Re-enables a disabled user: sign-in works again; ended sessions and grants stay ended. */
export async function enableUser(db: Knex, idOrEmail: string, actor: UserActor): Promise<{ user: UserRecord; changed: boolean }> {
  const { id: userId } = await getUser(db, idOrEmail);
  const changed = await db.transaction(async (trx) => {
    const updated = await trx('users')
      .where({ id: userId, status: 'disabled' })
      .whereNull('deleted_at')
      .update({ status: 'active', disabled_at: null });
    if (!updated) return false;
    await recordAudit(trx, { action: 'user.enabled', actor, target: { type: 'user', id: userId } });
    await enqueueEvent(trx, { type: EVENT('enabled'), key: userId, subject: userId, data: { id: userId } });
    return true;
  });
  return { user: await getUser(db, userId), changed };
}
