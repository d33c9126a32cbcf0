import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';

/** Request context recorded with every MFA audit event (never the secret or the code). */
export interface MfaContext {
  requestId?: string;
  ip?: string;
  userAgent?: string;
  /** Tenant of the sign-in or account flow, when there is one (users are global). */
  tenantId?: string;
  /** Who acts; default: the user themself (an administrator resetting MFA passes their own identity). */
  actor?: AuditEvent['actor'];
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function audit(
  trx: Knex.Transaction,
  userId: string,
  ctx: MfaContext,
  action: string,
  outcome: 'success' | 'failure',
  details: Record<string, unknown>,
): Promise<void> {
  await recordAudit(trx, {
    action,
    outcome,
    actor: ctx.actor ?? { type: 'user', id: userId },
    target: { type: 'user', id: userId },
    tenantId: ctx.tenantId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    requestId: ctx.requestId,
    details,
  });
}

/** Locks the user row against concurrent MFA changes (NO KEY UPDATE: foreign-key inserts still proceed). */
export async function lockActiveUser(trx: Knex.Transaction, userId: string): Promise<boolean> {
  if (!UUID.test(userId)) return false;
  const row = await trx('users').where({ id: userId, status: 'active' }).forNoKeyUpdate().first('id');
  return row !== undefined;
}
