import type { Knex } from 'knex';
import { z } from 'zod';
import { recordAudit } from '../audit/index.ts';
import { AppError } from '../errors/index.ts';
import { enqueueEvent } from '../outbox/index.ts';

/** `<service>.<resource>.<action>`, lower-case: the registry's key format (DB-enforced too). */
export const permissionKey = z
  .string()
  .max(128)
  .regex(/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*){2,}$/, 'must look like <service>.<resource>.<action> in lower case');

export const registerPermissionInput = z
  .object({
    key: permissionKey,
    description: z.string().trim().min(1).max(500),
    /** Platform-only permissions can never be placed in tenant roles. */
    platform_only: z.boolean().default(false),
  })
  .strict();

export type RegisterPermissionInput = z.infer<typeof registerPermissionInput>;

export interface PermissionRecord {
  key: string;
  service: string;
  description: string;
  platform_only: boolean;
  registered_by: string;
  created_at: string;
  updated_at: string;
}

export interface Actor {
  type: 'user' | 'workload' | 'system';
  id: string;
}

/**
 * Registers (or re-describes) a permission in the registry. A service may only register keys
 * in its own namespace, which callers enforce; `iam.*` keys are seeded and cannot be registered.
 */
export async function registerPermission(
  db: Knex,
  input: RegisterPermissionInput,
  actor: Actor,
  meta: { requestId?: string } = {},
): Promise<{ permission: PermissionRecord; created: boolean }> {
  const service = input.key.split('.')[0] as string;
  if (service === 'iam') throw new AppError('forbidden', { detail: 'the iam.* namespace is reserved' });
  return db.transaction(async (trx) => {
    const existing = await trx('permissions').where({ key: input.key }).forUpdate().first();
    let row: PermissionRecord;
    if (existing) {
      if (existing.platform_only !== input.platform_only) {
        throw new AppError('conflict', { detail: 'platform_only cannot change once a permission is registered' });
      }
      if (existing.description === input.description) return { permission: existing as PermissionRecord, created: false };
      [row] = await trx('permissions').where({ key: input.key }).update({ description: input.description }).returning('*');
    } else {
      [row] = await trx('permissions')
        .insert({
          key: input.key,
          service,
          description: input.description,
          platform_only: input.platform_only,
          registered_by: `${actor.type}:${actor.id}`,
        })
        .returning('*');
    }
    const action = existing ? 'permission.updated' : 'permission.registered';
    await recordAudit(trx, {
      action,
      actor,
      target: { type: 'permission', id: input.key },
      requestId: meta.requestId,
      details: { description: input.description },
    });
    await enqueueEvent(trx, {
      type: `com.infranotes.iam.${action}`,
      key: input.key,
      data: { key: input.key, service, description: input.description, platform_only: input.platform_only },
    });
    return { permission: row, created: !existing };
  });
}
