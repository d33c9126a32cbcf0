import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import { validIp } from '../security/index.ts';

/** Request context recorded with every passkey audit event (never a challenge or a raw response). */
export interface WebAuthnContext {
  requestId?: string;
  ip?: string;
  userAgent?: string;
  /** Tenant of the sign-in or account flow, when there is one (users are global). */
  tenantId?: string;
  /** Who acts; default: the user themself (an administrator removing passkeys passes their own identity). */
  actor?: AuditEvent['actor'];
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How an unknown credential id appears in audit details: a short SHA-256, never the id itself. */
export const credentialIdHash = (id: Uint8Array): string => createHash('sha256').update(id).digest('hex').slice(0, 32);

export async function audit(
  trx: Knex.Transaction,
  ctx: WebAuthnContext,
  e: { action: string; outcome: 'success' | 'failure'; userId?: string; details: Record<string, unknown> },
): Promise<void> {
  await recordAudit(trx, {
    action: e.action,
    outcome: e.outcome,
    actor: ctx.actor ?? (e.userId ? { type: 'user', id: e.userId } : { type: 'anonymous' }),
    ...(e.userId ? { target: { type: 'user', id: e.userId } } : {}),
    tenantId: ctx.tenantId,
    ip: validIp(ctx.ip),
    userAgent: ctx.userAgent,
    requestId: ctx.requestId,
    details: e.details,
  });
}

/** Locks an active user's row against concurrent factor changes (NO KEY UPDATE: credential inserts still proceed). */
export async function lockActiveUser(
  trx: Knex.Transaction,
  userId: string,
): Promise<{ id: string; webauthn_user_handle: Buffer | null } | undefined> {
  if (!UUID.test(userId)) return undefined;
  return trx('users').where({ id: userId, status: 'active' }).forNoKeyUpdate().first('id', 'webauthn_user_handle');
}
