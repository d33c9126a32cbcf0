import type { Knex } from 'knex';
import { recordAudit } from '../audit/index.ts';
import { AppError } from '../errors/index.ts';
import { normalizeEmail } from '../identity/index.ts';
import { consumeToken, invalidateTokens, issueToken, peekToken, type TokenFailureReason } from '../identity/one-time-tokens.ts';
import type { AccountContext } from './context.ts';
import { UUID } from './context.ts';

/**
 * Changing the account's email address (ADR-0018): the new address receives a single-use link
 * (`email_change` one-time token, 1 h, stored hashed; a newer request supersedes it) and the change
 * applies only when that link is confirmed; the old address is told afterwards. Whether the new
 * address already belongs to another account is never shown: the request looks the same and
 * simply sends nothing.
 */
export const EMAIL_CHANGE_REQUESTS_PER_HOUR = 5;

export type EmailChangeRequest =
  | {
      status: 'requested';
      /** What to mail to the new address; absent when the address belongs to another account. */
      mail?: { to: string; token: string; expiresAt: Date; displayName: string | null };
    }
  | { status: 'invalid' | 'same_address' | 'too_many' };

export type EmailChangeFailure = TokenFailureReason | 'address_taken' | 'stale';

export type EmailChangeConfirmation =
  | { ok: true; userId: string; oldEmail: string | null; newEmail: string; displayName: string | null }
  | { ok: false; reason: EmailChangeFailure };

const takenByOther = (db: Knex | Knex.Transaction, email: string, userId: string) =>
  db('users').whereNull('deleted_at').whereRaw('lower(email) = lower(?)', [email]).whereNot({ id: userId }).first('id');

/** Starts a change for a signed-in user who authenticated recently (the caller checks that). */
export async function requestEmailChange(
  db: Knex,
  input: { userId: string; newEmail: unknown },
  ctx: AccountContext = {},
): Promise<EmailChangeRequest> {
  let email: string;
  try {
    email = normalizeEmail(input.newEmail);
  } catch {
    return { status: 'invalid' };
  }
  const user = UUID.test(input.userId)
    ? await db('users').where({ id: input.userId, status: 'active' }).whereNull('deleted_at').first('email', 'display_name')
    : undefined;
  if (!user) throw new AppError('not_found', { detail: 'no such active user' });
  if (String(user.email ?? '').toLowerCase() === email) return { status: 'same_address' };

  const recent = await db('one_time_tokens')
    .where({ user_id: input.userId, purpose: 'email_change' })
    .where('created_at', '>', db.raw(`now() - interval '1 hour'`))
    .count<{ n: string }[]>({ n: '*' })
    .first();
  if (Number(recent?.n ?? 0) >= EMAIL_CHANGE_REQUESTS_PER_HOUR) return { status: 'too_many' };

  const available = !(await takenByOther(db, email, input.userId));
  const issued = available
    ? await issueToken(
        db,
        { purpose: 'email_change', email, userId: input.userId, supersede: true, context: { old_email: user.email ?? null } },
        { ...ctx, actor: { type: 'user', id: input.userId } },
      )
    : undefined;
  await db.transaction((trx) =>
    recordAudit(trx, {
      action: 'user.email_change_requested',
      actor: { type: 'user', id: input.userId },
      target: { type: 'user', id: input.userId },
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      requestId: ctx.requestId,
      details: { link_sent: available, ...(issued ? { token_id: issued.id } : {}) },
    }),
  );
  return issued
    ? { status: 'requested', mail: { to: email, token: issued.token, expiresAt: issued.expiresAt, displayName: user.display_name } }
    : { status: 'requested' };
}

/** Checks a link without consuming it (the GET behind the link: mail scanners follow links). */
export async function peekEmailChange(
  db: Knex,
  token: string,
): Promise<{ ok: true; newEmail: string } | { ok: false; reason: TokenFailureReason }> {
  const peek = await peekToken(db, { purpose: 'email_change', token });
  return peek.ok ? { ok: true, newEmail: peek.record.email } : peek;
}

/**
 * Redeems the link and applies the change in one transaction: the address becomes the account's
 * (verified), and the user's other outstanding links (reset, magic link, verification, other
 * changes) die with the old address. `stale` when the account's address changed since the
 * request; `address_taken` when another account got the address meanwhile (nothing changes).
 */
export async function confirmEmailChange(db: Knex, token: string, ctx: AccountContext = {}): Promise<EmailChangeConfirmation> {
  try {
    return await db.transaction(async (trx): Promise<EmailChangeConfirmation> => {
      const redeemed = await consumeToken(trx, { purpose: 'email_change', token }, ctx);
      if (!redeemed.ok) return redeemed;
      const { record } = redeemed;
      const userId = record.userId ?? '';
      const user = UUID.test(userId)
        ? await trx('users').where({ id: userId, status: 'active' }).whereNull('deleted_at').forNoKeyUpdate().first('email', 'display_name')
        : undefined;
      if (!user) return { ok: false, reason: 'invalid' };
      const oldEmail = (user.email as string | null) ?? null;
      if ((record.context.old_email ?? null) !== oldEmail) return { ok: false, reason: 'stale' };
      if (await takenByOther(trx, record.email, userId)) return { ok: false, reason: 'address_taken' };
      await trx('users').where({ id: userId }).update({ email: record.email, email_verified_at: trx.fn.now() });
      await invalidateTokens(trx, { userId, purposes: ['password_reset', 'magic_link', 'email_verification', 'email_change'] }, ctx);
      await recordAudit(trx, {
        action: 'user.email_changed',
        actor: { type: 'user', id: userId },
        target: { type: 'user', id: userId },
        tenantId: record.tenantId ?? undefined,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        requestId: ctx.requestId,
        details: { token_id: record.id },
      });
      return { ok: true, userId, oldEmail, newEmail: record.email, displayName: user.display_name };
    });
  } catch (err) {
    // Another account took the address between the check and the update (unique index): nothing changed.
    if ((err as { code?: string }).code === '23505') return { ok: false, reason: 'address_taken' };
    throw err;
  }
}
