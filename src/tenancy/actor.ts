import type { Knex } from 'knex';
import type { PrincipalRef } from '../authz/model.ts';

/** The platform-only permission that lets a caller operate on tenants it is not a member of. */
export const PLATFORM_ADMIN = 'iam.platform.admin';

/**
 * Who is calling the admin API, as authenticated (no database lookups yet). Platform
 * administration travels as the `iam.platform.admin` scope of the access token: platform-only
 * permissions can never be granted through tenant roles (the registry refuses it), so the OAuth
 * client's allowed scopes are where an operator grants it.
 */
export interface Actor {
  /** `system`: the operator CLI (always a platform administrator, never a member of a tenant). */
  type: 'user' | 'workload' | 'system';
  /** Token subject: a user id, or a workload's subject (its client id); `cli:<login>` for the CLI. */
  sub: string;
  platformAdmin: boolean;
  /** The tenant the token was issued for (`tid`), when it names one. */
  tokenTenantId?: string;
}

export interface RequestMeta {
  requestId?: string;
  ip?: string;
  userAgent?: string;
}

/** What the admin services need about a call: who, and the request facts audit records. */
export interface Caller {
  actor: Actor;
  meta: RequestMeta;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string) => UUID.test(value);

/**
 * The caller as a principal of this tenant: users by id, workloads through their identity's
 * subject. Undefined when the caller has no identity in the tenant at all.
 */
export async function principalOf(trx: Knex.Transaction, tenantId: string, actor: Actor): Promise<PrincipalRef | undefined> {
  if (actor.type === 'user') return isUuid(actor.sub) ? { type: 'user', id: actor.sub } : undefined;
  if (actor.type === 'system') return undefined;
  const row = await trx('workload_identities').where({ tenant_id: tenantId, sub: actor.sub }).first('id');
  return row ? { type: 'workload', id: row.id as string } : undefined;
}

/** Audit's view of the caller. */
export function auditActor(actor: Actor): { type: 'user' | 'workload' | 'system'; id: string } {
  return { type: actor.type, id: actor.sub };
}

/** Value for `created_by`-style uuid columns: only users have a global uuid there. */
export function actorUserId(actor: Actor): string | null {
  return actor.type === 'user' && isUuid(actor.sub) ? actor.sub : null;
}
