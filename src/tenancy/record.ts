import type { Knex } from 'knex';
import { recordAudit } from '../audit/index.ts';
import { enqueueEvent } from '../outbox/index.ts';
import { auditActor, type Caller } from './actor.ts';

export interface Change {
  /** Audit action and event name, e.g. `role.created` (the event type adds the IAM prefix). */
  action: string;
  tenantId?: string;
  target: { type: string; id: string };
  /** Audit-only details (may name people; events never do). */
  details?: Record<string, unknown>;
  /** Event payload; the event is keyed by the tenant id unless `key` says otherwise. */
  event: { data: unknown; key?: string; subject?: string };
}

/** The audit event and the domain event of one admin change, in the change's transaction. */
export async function recordChange(trx: Knex.Transaction, caller: Caller, change: Change): Promise<void> {
  await recordAudit(trx, {
    action: change.action,
    actor: auditActor(caller.actor),
    tenantId: change.tenantId,
    target: change.target,
    requestId: caller.meta.requestId,
    ip: caller.meta.ip,
    userAgent: caller.meta.userAgent,
    details: { ...(change.details ?? {}), ...(caller.actor.platformAdmin ? { platform_admin: true } : {}) },
  });
  const key = change.event.key ?? change.tenantId ?? change.target.id;
  await enqueueEvent(trx, {
    type: `com.infranotes.iam.${change.action}`,
    key,
    tenantId: change.tenantId,
    ...(change.event.subject ? { subject: change.event.subject } : {}),
    data: change.event.data,
  });
}
