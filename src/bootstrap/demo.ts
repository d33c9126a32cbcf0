import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { recordAudit } from '../audit/index.ts';
import { lockId } from '../db/locks.ts';
import { hashPassword } from '../identity/password-hash.ts';
import { enqueueEvent } from '../outbox/index.ts';

export const DEMO_TENANT_SLUG = 'demo';
export const DEMO_CLIENT_ID = 'demo-web';
export const DEMO_REDIRECT_URI = 'http://localhost:3000/callback';

export interface DemoBootstrap {
  tenant: { id: string; slug: string };
  admin: { id: string; email: string; password: string };
  client: { client_id: string; client_secret: string; redirect_uri: string };
}

/** A password a person can type once: 24 characters from a 32-letter alphabet (120 bits). */
function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  return [...randomBytes(24)].map((b) => alphabet[b % 32]).join('');
}

/**
 * First start of a development deployment: a demo tenant (with the system roles), an admin
 * user who owns it, and a demo client. Runs once (skipped when the demo tenant exists) and
 * returns the one-time credentials so they can be printed; only hashes are stored.
 */
export async function bootstrapDemo(db: Knex, opts: { adminEmail: string }): Promise<DemoBootstrap | undefined> {
  const password = generatePassword();
  const { hash, params } = await hashPassword(password);
  const clientSecret = randomBytes(32).toString('base64url');

  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [lockId('iam:bootstrap')]);
    if (await trx('tenants').where({ slug: DEMO_TENANT_SLUG }).first('id')) return undefined;

    const [tenant] = await trx('tenants').insert({ slug: DEMO_TENANT_SLUG, name: 'Demo' }).returning(['id', 'slug']);
    const templates = await trx('role_templates').where({ is_system: true }).select('id', 'key', 'name', 'description');
    const roleIds = new Map<string, string>();
    for (const t of templates) {
      const [role] = await trx('roles')
        .insert({ tenant_id: tenant.id, key: t.key, name: t.name, description: t.description, template_id: t.id, is_system: true })
        .returning('id');
      roleIds.set(t.key, role.id);
      await trx.raw(
        `insert into role_permissions (tenant_id, role_id, permission_key)
         select ?, ?, permission_key from role_template_permissions where template_id = ?`,
        [tenant.id, role.id, t.id],
      );
    }

    let user = await trx('users').whereRaw('lower(email) = lower(?)', [opts.adminEmail]).whereNull('deleted_at').first('id', 'email');
    if (!user) {
      [user] = await trx('users')
        .insert({ email: opts.adminEmail, email_verified_at: trx.fn.now(), display_name: 'Demo Admin' })
        .returning(['id', 'email']);
    }
    await trx('password_credentials')
      .insert({ user_id: user.id, password_hash: hash, params: JSON.stringify(params) })
      .onConflict('user_id')
      .merge();
    await trx('memberships').insert({ tenant_id: tenant.id, user_id: user.id, status: 'active', joined_at: trx.fn.now() });
    const ownerRole = roleIds.get('owner');
    if (ownerRole) {
      await trx('scope_bindings').insert({
        tenant_id: tenant.id,
        role_id: ownerRole,
        principal_type: 'user',
        principal_id: user.id,
        scope_type: 'tenant',
        scope_id: tenant.id,
      });
    }

    const [client] = await trx('oauth_clients')
      .insert({
        client_id: DEMO_CLIENT_ID,
        tenant_id: tenant.id,
        name: 'Demo web app',
        first_party: true,
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [DEMO_REDIRECT_URI],
        post_logout_redirect_uris: ['http://localhost:3000/'],
        allowed_scopes: ['openid', 'profile', 'email', 'offline_access'],
      })
      .returning('id');
    await trx('client_secrets').insert({
      client_id: client.id,
      secret_hash: createHash('sha256').update(clientSecret).digest(),
      hint: clientSecret.slice(-4),
    });

    const actor = { type: 'system', id: 'bootstrap' } as const;
    await recordAudit(trx, { action: 'tenant.created', actor, tenantId: tenant.id, target: { type: 'tenant', id: tenant.id } });
    await recordAudit(trx, { action: 'user.created', actor, tenantId: tenant.id, target: { type: 'user', id: user.id } });
    await recordAudit(trx, { action: 'client.created', actor, tenantId: tenant.id, target: { type: 'client', id: DEMO_CLIENT_ID } });
    await enqueueEvent(trx, {
      type: 'com.infranotes.iam.tenant.created',
      key: tenant.id,
      tenantId: tenant.id,
      data: { id: tenant.id, slug: tenant.slug },
    });
    await enqueueEvent(trx, { type: 'com.infranotes.iam.user.created', key: user.id, tenantId: tenant.id, data: { id: user.id } });
    await enqueueEvent(trx, {
      type: 'com.infranotes.iam.client.created',
      key: DEMO_CLIENT_ID,
      tenantId: tenant.id,
      data: { client_id: DEMO_CLIENT_ID },
    });

    return {
      tenant: { id: tenant.id, slug: tenant.slug },
      admin: { id: user.id, email: user.email, password },
      client: { client_id: DEMO_CLIENT_ID, client_secret: clientSecret, redirect_uri: DEMO_REDIRECT_URI },
    };
  });
}
