import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import { type Caller, isUuid } from './actor.ts';
import { enterTenant, requirePermission } from './authority.ts';
import { isUniqueViolation } from './db-errors.ts';
import { recordChange } from './record.ts';
import { settingsFromStored } from './tenant-settings.ts';
import { lockTenantRevision } from './write.ts';

/**
 * Email domains a tenant claims, proven by a DNS TXT record (`_infranotes-iam.<domain>` =
 * `infranotes-iam-verification=<token>`; the token is stored as SHA-256). A domain is verified
 * by one tenant at most. With `join_by_verified_domain`, a user whose *verified* email is at a
 * verified domain may join the tenant as `member` by itself.
 */

export const DNS_LABEL = '_infranotes-iam';
const TXT_PREFIX = 'infranotes-iam-verification=';

export const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, 'a domain name such as example.com');

export const addDomainInput = z.object({ domain: domainName }).strict();

/** Resolves TXT records (node:dns/promises `resolveTxt` in production). */
export type TxtResolver = (name: string) => Promise<string[][]>;

export interface DomainView {
  domain: string;
  verified_at: Date | null;
  created_at: Date;
}

export interface NewDomainView extends DomainView {
  /** The record to publish; shown once. */
  verification: { type: 'dns_txt'; name: string; value: string };
}

const hash = (value: string) => createHash('sha256').update(value).digest();

async function loadDomain(trx: Knex.Transaction, tenantId: string, domain: string) {
  const row = await trx('tenant_domains')
    .where({ tenant_id: tenantId, domain })
    .first('domain', 'verified_at', 'created_at', 'verification_token_hash');
  if (!row) throw new AppError('not_found', { detail: 'no such domain' });
  return row as DomainView & { verification_token_hash: Buffer | null };
}

export async function listDomains(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
): Promise<{ items: DomainView[]; next_cursor: null }> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.tenants.read');
  const items = (await trx('tenant_domains')
    .where({ tenant_id: tenantId })
    .orderBy('domain')
    .select('domain', 'verified_at', 'created_at')) as DomainView[];
  return { items, next_cursor: null };
}

export async function addDomain(trx: Knex.Transaction, caller: Caller, tenantId: string, domain: string): Promise<NewDomainView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.domains.manage');
  const token = randomBytes(24).toString('base64url');
  let row: DomainView;
  try {
    row = (
      await trx('tenant_domains')
        .insert({ tenant_id: tenantId, domain, verification_token_hash: hash(token) })
        .returning(['domain', 'verified_at', 'created_at'])
    )[0] as DomainView;
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('conflict', { detail: 'the tenant already claims this domain' });
    throw err;
  }
  await recordChange(trx, caller, {
    action: 'tenant.domain_added',
    tenantId,
    target: { type: 'domain', id: domain },
    event: { key: tenantId, data: { id: tenantId, domain } },
  });
  return { ...row, verification: { type: 'dns_txt', name: `${DNS_LABEL}.${domain}`, value: `${TXT_PREFIX}${token}` } };
}

/** Looks the TXT record up and marks the domain verified when it carries the token. */
export async function verifyDomain(
  trx: Knex.Transaction,
  caller: Caller,
  tenantId: string,
  domain: string,
  resolveTxt: TxtResolver,
): Promise<DomainView> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.domains.manage');
  const row = await loadDomain(trx, tenantId, domain);
  if (row.verified_at) return { domain: row.domain, verified_at: row.verified_at, created_at: row.created_at };
  let records: string[][] = [];
  try {
    records = await resolveTxt(`${DNS_LABEL}.${domain}`);
  } catch {
    records = [];
  }
  const expected = row.verification_token_hash;
  const proven = records
    .map((chunks) => chunks.join(''))
    .filter((txt) => txt.startsWith(TXT_PREFIX))
    .some((txt) => expected !== null && timingSafeEqual(hash(txt.slice(TXT_PREFIX.length)), expected));
  if (!proven) {
    throw new AppError('conflict', {
      detail: `no TXT record ${DNS_LABEL}.${domain} with the verification value was found; publish it and try again`,
      extensions: { reason: 'domain_not_proven' },
    });
  }
  let updated: DomainView;
  try {
    updated = (
      await trx('tenant_domains')
        .where({ tenant_id: tenantId, domain })
        .update({ verified_at: trx.fn.now(), verification_token_hash: null })
        .returning(['domain', 'verified_at', 'created_at'])
    )[0] as DomainView;
  } catch (err) {
    if (isUniqueViolation(err, 'tenant_domains_verified_domain_key')) {
      throw new AppError('conflict', { detail: 'another tenant has verified this domain', extensions: { reason: 'domain_taken' } });
    }
    throw err;
  }
  await recordChange(trx, caller, {
    action: 'tenant.domain_verified',
    tenantId,
    target: { type: 'domain', id: domain },
    event: { key: tenantId, data: { id: tenantId, domain } },
  });
  return updated;
}

export async function removeDomain(trx: Knex.Transaction, caller: Caller, tenantId: string, domain: string): Promise<void> {
  const access = await enterTenant(trx, tenantId, caller.actor);
  requirePermission(access, 'iam.domains.manage');
  await loadDomain(trx, tenantId, domain);
  await trx('tenant_domains').where({ tenant_id: tenantId, domain }).delete();
  await recordChange(trx, caller, {
    action: 'tenant.domain_removed',
    tenantId,
    target: { type: 'domain', id: domain },
    event: { key: tenantId, data: { id: tenantId, domain } },
  });
}

/**
 * A signed-in user joins a tenant by its verified email domain (when the tenant allows it):
 * membership plus the `member` role on the tenant. 404 when the tenant does not offer it to
 * this user — the same answer as for a tenant that does not exist.
 */
export async function joinByVerifiedDomain(
  db: Knex,
  tenantId: string,
  userId: string,
  meta: Caller['meta'] = {},
): Promise<{ tenant_id: string; user_id: string; roles: string[]; revision: number }> {
  if (!isUuid(userId) || !isUuid(tenantId)) throw new AppError('not_found', { detail: 'no such tenant to join' });
  return db.transaction(async (trx) => {
    await lockTenantRevision(trx, tenantId);
    const notOffered = () => new AppError('not_found', { detail: 'no such tenant to join' });
    const tenant = await trx('tenants').where({ id: tenantId, status: 'active' }).first('settings');
    if (!tenant || !settingsFromStored(tenant.settings).join_by_verified_domain) throw notOffered();
    const user = await trx('users').where({ id: userId, status: 'active' }).first('email', 'email_verified_at');
    const at = user?.email && user.email_verified_at ? String(user.email).toLowerCase().split('@')[1] : undefined;
    if (!at) throw notOffered();
    const verified = await trx('tenant_domains').where({ tenant_id: tenantId, domain: at }).whereNotNull('verified_at').first('domain');
    if (!verified) throw notOffered();
    if (await trx('memberships').where({ tenant_id: tenantId, user_id: userId }).first('id')) {
      throw new AppError('conflict', { detail: 'you are already a member of this tenant', extensions: { reason: 'already_member' } });
    }
    await trx('memberships').insert({ tenant_id: tenantId, user_id: userId, status: 'active', joined_at: trx.fn.now() });
    const role = await trx('roles').where({ tenant_id: tenantId, key: 'member', is_system: true }).first('id');
    const caller: Caller = { actor: { type: 'user', sub: userId, platformAdmin: false }, meta };
    const roles: string[] = [];
    if (role) {
      const [binding] = await trx('scope_bindings')
        .insert({
          tenant_id: tenantId,
          role_id: role.id,
          principal_type: 'user',
          principal_id: userId,
          scope_type: 'tenant',
          scope_id: tenantId,
        })
        .returning('id');
      roles.push('member');
      await recordChange(trx, caller, {
        action: 'authz.binding.created',
        tenantId,
        target: { type: 'binding', id: binding.id },
        details: { role: 'member', authority: 'verified_domain', domain: at },
        event: {
          data: {
            binding_id: binding.id,
            principal: { type: 'user', id: userId },
            role: 'member',
            scope: { type: 'tenant', id: tenantId },
          },
        },
      });
    }
    await recordChange(trx, caller, {
      action: 'membership.added',
      tenantId,
      target: { type: 'user', id: userId },
      details: { roles, via: 'verified_domain', domain: at },
      event: { data: { tenant_id: tenantId, user_id: userId, roles } },
    });
    const revision = Number((await trx('authz_revisions').where({ tenant_id: tenantId }).first('revision'))?.revision ?? 0);
    return { tenant_id: tenantId, user_id: userId, roles, revision };
  });
}
