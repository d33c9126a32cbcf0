import type { Knex } from 'knex';

export interface AuditEvent {
  /** Dotted, lower-case: `tenant.created`, `auth.password.failed`. */
  action: string;
  actor: { type: 'user' | 'workload' | 'client' | 'system' | 'anonymous'; id?: string };
  outcome?: 'success' | 'failure';
  tenantId?: string;
  target?: { type: string; id: string };
  ip?: string;
  userAgent?: string;
  requestId?: string;
  details?: Record<string, unknown>;
}

/**
 * Appends an audit event inside the caller's transaction, so the record exists exactly when the
 * change it describes does. The database assigns the chain position and hash (audit migration).
 */
export async function recordAudit(trx: Knex.Transaction, event: AuditEvent): Promise<string> {
  if (!trx.isTransaction) throw new TypeError('recordAudit must run inside the transaction of the change it records');
  const [row] = await trx('audit_events')
    .insert({
      tenant_id: event.tenantId ?? null,
      actor_type: event.actor.type,
      actor_id: event.actor.id ?? null,
      action: event.action,
      target_type: event.target?.type ?? null,
      target_id: event.target?.id ?? null,
      outcome: event.outcome ?? 'success',
      ip: event.ip ?? null,
      user_agent: event.userAgent?.slice(0, 512) ?? null,
      request_id: event.requestId ?? null,
      details: JSON.stringify(event.details ?? {}),
    })
    .returning('id');
  return row.id as string;
}
