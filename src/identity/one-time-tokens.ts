import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';

/**
 * Emailed single-use tokens (ADR-0013): magic links, password reset, email verification and
 * email change. The raw token (256 bits, base64url) exists only in the mail; the table keeps
 * sha256(token). Redemption is one conditional UPDATE (`consumed_at IS NULL AND expires_at > now()`)
 * whose row count decides, so parallel redemptions yield exactly one success. A token may be bound
 * to the browser that asked for it (a random cookie value, stored hashed): presented from another
 * browser it is refused with `wrong_browser` and left unconsumed, so the flow can ask the person
 * to confirm instead of silently signing anyone in. Expiry uses the database clock on both sides.
 */
export const ONE_TIME_TOKEN_PURPOSES = ['email_verification', 'magic_link', 'password_reset', 'email_change'] as const;
export type OneTimeTokenPurpose = (typeof ONE_TIME_TOKEN_PURPOSES)[number];

/** Lifetimes in seconds: `default` when the caller gives none, `max` is enforced. */
export const ONE_TIME_TOKEN_LIFETIMES: Record<OneTimeTokenPurpose, { default: number; max: number }> = {
  magic_link: { default: 600, max: 600 },
  password_reset: { default: 1800, max: 3600 },
  email_change: { default: 3600, max: 86_400 },
  email_verification: { default: 86_400, max: 259_200 },
};

export interface TokenContext {
  requestId?: string;
  ip?: string;
  userAgent?: string;
  /** Who acts; default: the token's user, else anonymous. */
  actor?: AuditEvent['actor'];
}

export interface IssueTokenInput {
  purpose: OneTimeTokenPurpose;
  /** The address the token is mailed to (for email_change: the new address). */
  email: string;
  userId?: string;
  /** Tenant context of the flow, when there is one. */
  tenantId?: string;
  /** Defaults per purpose; at most ONE_TIME_TOKEN_LIFETIMES[purpose].max (magic link ≤ 600). */
  ttlSeconds?: number;
  /** The issuing browser's binding cookie value (see generateBrowserBinding); stored hashed. */
  browserBinding?: string;
  /** Flow data returned on redemption (e.g. the interaction uid, the old email). Never secrets. */
  context?: Record<string, unknown>;
  /** Invalidate the user's (or, without user, the email's) outstanding tokens of this purpose first. */
  supersede?: boolean;
}

export interface IssuedToken {
  /** The raw token for the mail link; never stored, never logged. */
  token: string;
  id: string;
  expiresAt: Date;
}

export interface OneTimeTokenRecord {
  id: string;
  purpose: OneTimeTokenPurpose;
  userId: string | null;
  tenantId: string | null;
  email: string;
  context: Record<string, unknown>;
  browserBound: boolean;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
}

export type TokenFailureReason = 'invalid' | 'expired' | 'used' | 'wrong_browser';
export type ConsumeTokenResult = { ok: true; record: OneTimeTokenRecord } | { ok: false; reason: TokenFailureReason };

export interface ConsumeTokenInput {
  purpose: OneTimeTokenPurpose;
  token: string;
  /** The presenting browser's binding cookie value, if it has one. */
  browserBinding?: string;
  /**
   * Redeem a browser-bound token from another browser. Only after the person explicitly
   * confirmed on that browser (a POST with CSRF protection) following a `wrong_browser` answer;
   * the session then starts in the browser holding the link, never in the one that asked.
   */
  allowOtherBrowser?: boolean;
}

interface TokenRow {
  id: string;
  purpose: OneTimeTokenPurpose;
  user_id: string | null;
  tenant_id: string | null;
  email: string;
  context: Record<string, unknown>;
  browser_binding_hash: Buffer | null;
  created_at: Date;
  expires_at: Date;
  consumed_at: Date | null;
}

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const BINDING_FORMAT = /^[\x21-\x7e]{16,512}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();
export const hashOneTimeToken = (token: string): Buffer => sha256(token);
const bindingHash = (binding: string) => sha256(`iam-browser-binding\0${binding}`);

function assertPurpose(purpose: unknown): asserts purpose is OneTimeTokenPurpose {
  if (!ONE_TIME_TOKEN_PURPOSES.includes(purpose as OneTimeTokenPurpose))
    throw new TypeError(`unknown one-time token purpose ${String(purpose)}`);
}

/** A fresh browser binding value (256 bits, base64url) for a `__Host-` HttpOnly cookie. */
export function generateBrowserBinding(): string {
  return randomBytes(32).toString('base64url');
}

const toRecord = (r: TokenRow): OneTimeTokenRecord => ({
  id: r.id,
  purpose: r.purpose,
  userId: r.user_id,
  tenantId: r.tenant_id,
  email: r.email,
  context: r.context ?? {},
  browserBound: r.browser_binding_hash !== null,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
});

const actorFor = (ctx: TokenContext, userId: string | null | undefined): AuditEvent['actor'] =>
  ctx.actor ?? (userId ? { type: 'user', id: userId } : { type: 'anonymous' });

async function auditToken(
  trx: Knex.Transaction,
  ctx: TokenContext,
  action: string,
  outcome: 'success' | 'failure',
  row: { user_id: string | null; tenant_id: string | null } | undefined,
  details: Record<string, unknown>,
): Promise<void> {
  await recordAudit(trx, {
    action,
    outcome,
    actor: actorFor(ctx, row?.user_id),
    target: row?.user_id ? { type: 'user', id: row.user_id } : undefined,
    tenantId: row?.tenant_id ?? undefined,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    requestId: ctx.requestId,
    details,
  });
}

function outstanding(
  trx: Knex.Transaction,
  by: { userId?: string; email?: string },
  purposes: readonly OneTimeTokenPurpose[],
): Knex.QueryBuilder {
  const q = trx('one_time_tokens')
    .whereIn('purpose', [...purposes])
    .whereNull('consumed_at')
    .where('expires_at', '>', trx.raw('now()'));
  if (by.userId) q.where('user_id', by.userId);
  else q.whereRaw('lower(email) = lower(?)', [by.email ?? '']);
  return q;
}

/** Issues a token and returns the raw value for the mail link (it is stored only as sha256). */
export async function issueToken(db: Knex, input: IssueTokenInput, ctx: TokenContext = {}): Promise<IssuedToken> {
  assertPurpose(input.purpose);
  const lifetime = ONE_TIME_TOKEN_LIFETIMES[input.purpose];
  const ttl = input.ttlSeconds ?? lifetime.default;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > lifetime.max) {
    throw new RangeError(`ttlSeconds for ${input.purpose} must be an integer between 1 and ${lifetime.max}`);
  }
  const email = typeof input.email === 'string' ? input.email.trim() : '';
  if (!email || email.length > 320 || !/^[^@\s]+@[^@\s]+$/.test(email)) throw new TypeError('email must be an address');
  if (input.userId !== undefined && !UUID.test(input.userId)) throw new TypeError('userId must be a UUID');
  if (input.tenantId !== undefined && !UUID.test(input.tenantId)) throw new TypeError('tenantId must be a UUID');
  if (input.browserBinding !== undefined && !BINDING_FORMAT.test(input.browserBinding)) {
    throw new TypeError('browserBinding must be 16-512 printable characters');
  }

  const token = randomBytes(32).toString('base64url');
  return db.transaction(async (trx) => {
    let superseded = 0;
    if (input.supersede) {
      superseded = await outstanding(trx, { userId: input.userId, email }, [input.purpose]).update({
        consumed_at: trx.fn.now(),
      });
    }
    const [row] = await trx('one_time_tokens')
      .insert({
        purpose: input.purpose,
        token_hash: hashOneTimeToken(token),
        user_id: input.userId ?? null,
        tenant_id: input.tenantId ?? null,
        email,
        browser_binding_hash: input.browserBinding === undefined ? null : bindingHash(input.browserBinding),
        context: JSON.stringify(input.context ?? {}),
        created_ip: ctx.ip ?? null,
        expires_at: trx.raw('now() + make_interval(secs => ?)', [ttl]),
      })
      .returning(['id', 'expires_at']);
    await auditToken(
      trx,
      ctx,
      'one_time_token.issued',
      'success',
      { user_id: input.userId ?? null, tenant_id: input.tenantId ?? null },
      {
        purpose: input.purpose,
        token_id: row.id,
        ttl_seconds: ttl,
        browser_bound: input.browserBinding !== undefined,
        superseded,
      },
    );
    return { token, id: row.id as string, expiresAt: row.expires_at as Date };
  });
}

/** Why a token that did not redeem is unusable (called after the conditional UPDATE missed). */
async function classify(
  q: Knex | Knex.Transaction,
  purpose: OneTimeTokenPurpose,
  hash: Buffer,
  binding: string | undefined,
  allowOtherBrowser: boolean,
): Promise<{ row?: TokenRow; reason: TokenFailureReason | null }> {
  const row: (TokenRow & { expired: boolean }) | undefined = await q('one_time_tokens')
    .where({ token_hash: hash })
    .first('*', q.raw('expires_at <= now() as expired'));
  if (!row || row.purpose !== purpose) return { reason: 'invalid' };
  if (row.consumed_at !== null) return { row, reason: 'used' };
  if (row.expired) return { row, reason: 'expired' };
  if (
    !allowOtherBrowser &&
    row.browser_binding_hash !== null &&
    (binding === undefined || !bindingHash(binding).equals(row.browser_binding_hash))
  ) {
    return { row, reason: 'wrong_browser' };
  }
  return { row, reason: null };
}

function parseConsumeInput(input: ConsumeTokenInput): { hash: Buffer | null; binding: string | undefined } {
  assertPurpose(input.purpose);
  const binding = typeof input.browserBinding === 'string' && BINDING_FORMAT.test(input.browserBinding) ? input.browserBinding : undefined;
  const hash = typeof input.token === 'string' && TOKEN_FORMAT.test(input.token) ? hashOneTimeToken(input.token) : null;
  return { hash, binding };
}

/**
 * Redeems a token once. `wrong_browser` leaves it unconsumed (ask for confirmation, then call again
 * with `allowOtherBrowser`). Every attempt is audited. The caller still checks the user's status
 * and, for password reset, that MFA is not bypassed.
 */
export async function consumeToken(db: Knex, input: ConsumeTokenInput, ctx: TokenContext = {}): Promise<ConsumeTokenResult> {
  const { hash, binding } = parseConsumeInput(input);
  const allowOther = input.allowOtherBrowser === true;
  return db.transaction(async (trx): Promise<ConsumeTokenResult> => {
    if (hash === null) {
      await auditToken(trx, ctx, 'one_time_token.consumed', 'failure', undefined, { purpose: input.purpose, reason: 'invalid' });
      return { ok: false, reason: 'invalid' };
    }
    const q = trx('one_time_tokens')
      .where({ token_hash: hash, purpose: input.purpose })
      .whereNull('consumed_at')
      .where('expires_at', '>', trx.raw('now()'));
    if (!allowOther) {
      q.andWhere((w) => {
        w.whereNull('browser_binding_hash');
        if (binding !== undefined) w.orWhere('browser_binding_hash', bindingHash(binding));
      });
    }
    const [hit]: TokenRow[] = await q.update({ consumed_at: trx.fn.now() }).returning('*');
    if (hit) {
      await auditToken(trx, ctx, 'one_time_token.consumed', 'success', hit, {
        purpose: hit.purpose,
        token_id: hit.id,
        browser_bound: hit.browser_binding_hash !== null,
        other_browser:
          hit.browser_binding_hash !== null && (binding === undefined || !bindingHash(binding).equals(hit.browser_binding_hash)),
      });
      return { ok: true, record: toRecord(hit) };
    }
    const { row, reason } = await classify(trx, input.purpose, hash, binding, allowOther);
    // reason null: it changed between the two statements (a parallel redemption won): used.
    const final: TokenFailureReason = reason ?? 'used';
    await auditToken(trx, ctx, 'one_time_token.consumed', 'failure', row, { purpose: input.purpose, token_id: row?.id, reason: final });
    return { ok: false, reason: final };
  });
}

/**
 * Checks a token without consuming it, e.g. to render the page behind a link: GET requests never
 * consume (mail scanners follow links), the page's POST calls consumeToken.
 */
export async function peekToken(db: Knex, input: ConsumeTokenInput): Promise<ConsumeTokenResult> {
  const { hash, binding } = parseConsumeInput(input);
  if (hash === null) return { ok: false, reason: 'invalid' };
  const { row, reason } = await classify(db, input.purpose, hash, binding, input.allowOtherBrowser === true);
  if (reason !== null || !row) return { ok: false, reason: reason ?? 'invalid' };
  return { ok: true, record: toRecord(row) };
}

/**
 * Invalidates outstanding (unconsumed, unexpired) tokens of a user — or of an email address when
 * there is no user — e.g. every password_reset and magic_link after a password change. Returns
 * how many were invalidated; they then redeem as `used`.
 */
export async function invalidateTokens(
  db: Knex,
  input: { userId?: string; email?: string; purposes?: readonly OneTimeTokenPurpose[] },
  ctx: TokenContext = {},
): Promise<number> {
  const purposes = input.purposes ?? ONE_TIME_TOKEN_PURPOSES;
  for (const p of purposes) assertPurpose(p);
  if (input.userId !== undefined && !UUID.test(input.userId)) throw new TypeError('userId must be a UUID');
  if (!input.userId && !input.email) throw new TypeError('invalidateTokens needs a userId or an email');
  return db.transaction(async (trx) => {
    const n = await outstanding(trx, { userId: input.userId, email: input.email }, purposes).update({ consumed_at: trx.fn.now() });
    if (n > 0) {
      await auditToken(
        trx,
        ctx,
        'one_time_token.invalidated',
        'success',
        input.userId ? { user_id: input.userId, tenant_id: null } : undefined,
        {
          purposes,
          count: n,
        },
      );
    }
    return n;
  });
}

/**
 * Resend limit helper: tokens issued for an address and purpose within the last `withinMinutes`
 * (consumed or not). The flow refuses to send another one above its limit, answering as if sent.
 */
export async function countRecentTokens(
  db: Knex,
  input: { email: string; purpose: OneTimeTokenPurpose; withinMinutes: number },
): Promise<number> {
  assertPurpose(input.purpose);
  if (!(input.withinMinutes > 0)) throw new RangeError('withinMinutes must be positive');
  const row = await db('one_time_tokens')
    .where({ purpose: input.purpose })
    .whereRaw('lower(email) = lower(?)', [input.email.trim()])
    .where('created_at', '>', db.raw('now() - make_interval(secs => ?)', [input.withinMinutes * 60]))
    .count<{ n: string | number }[]>({ n: '*' })
    .first();
  return Number(row?.n ?? 0);
}

/** Deletes tokens that expired more than `olderThanSeconds` ago (keep ≥ the resend window). */
export async function purgeExpiredTokens(db: Knex, olderThanSeconds = 86_400): Promise<number> {
  return db('one_time_tokens')
    .where('expires_at', '<', db.raw('now() - make_interval(secs => ?)', [olderThanSeconds]))
    .delete();
}
