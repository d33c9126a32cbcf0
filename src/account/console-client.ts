import type { Knex } from 'knex';
import { type ClientRecord, createClient, getClient, updateClient } from '../clients/index.ts';
import { withAdvisoryLock } from '../db/locks.ts';
import { AppError } from '../errors/index.ts';

/**
 * The account pages sign users in as a first-party relying party of this issuer (ADR-0018): a
 * public client (PKCE, no secret — its code is redeemed in-process), allowed the `openid` scope
 * and exactly one redirect URI, `<issuer>/account/callback`. Ensured at every start, so an
 * issuer change moves the redirect URI along; an operator may still disable it.
 */
export const ACCOUNT_CLIENT_ID = 'iam-account';
export const ACCOUNT_BASE_PATH = '/account';
export const ACCOUNT_CALLBACK_PATH = `${ACCOUNT_BASE_PATH}/callback`;

const ACTOR = { type: 'system', id: 'account-console' } as const;

/** `<issuer>/account/callback`: issuer origin and path, never anything from a request. */
export function accountCallbackUri(issuer: string): string {
  const url = new URL(issuer);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}${ACCOUNT_CALLBACK_PATH}`;
}

const wanted = (issuer: string) => ({
  first_party: true,
  application_type: 'web' as const,
  token_endpoint_auth_method: 'none' as const,
  grant_types: ['authorization_code' as const],
  redirect_uris: [accountCallbackUri(issuer)],
  post_logout_redirect_uris: [],
  allowed_scopes: ['openid'],
  allowed_resources: [],
});

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

function drift(client: ClientRecord, spec: ReturnType<typeof wanted>): Partial<ReturnType<typeof wanted>> {
  const patch: Partial<ReturnType<typeof wanted>> = {};
  if (client.first_party !== spec.first_party) patch.first_party = spec.first_party;
  if (client.token_endpoint_auth_method !== spec.token_endpoint_auth_method)
    patch.token_endpoint_auth_method = spec.token_endpoint_auth_method;
  if (!same(client.grant_types, spec.grant_types)) patch.grant_types = spec.grant_types;
  if (!same(client.redirect_uris, spec.redirect_uris)) patch.redirect_uris = spec.redirect_uris;
  if (!same(client.post_logout_redirect_uris, spec.post_logout_redirect_uris)) patch.post_logout_redirect_uris = [];
  if (!same(client.allowed_scopes, spec.allowed_scopes)) patch.allowed_scopes = spec.allowed_scopes;
  if (!same(client.allowed_resources, spec.allowed_resources)) patch.allowed_resources = [];
  return patch;
}

/**
 * Creates the account client, or brings a drifted one back to its specification (audited as any
 * client change). Instances starting together serialise on an advisory lock. Throws
 * `validation_failed` when the issuer cannot carry a redirect URI (plain http off loopback).
 */
export async function ensureAccountClient(db: Knex, issuer: string): Promise<ClientRecord> {
  const spec = wanted(issuer);
  return withAdvisoryLock(db, 'iam:account-client', async () => {
    let existing: ClientRecord | undefined;
    try {
      existing = await getClient(db, ACCOUNT_CLIENT_ID);
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'not_found')) throw err;
    }
    if (!existing) {
      const created = await createClient(
        db,
        { client_id: ACCOUNT_CLIENT_ID, name: 'InfraNotes account', description: 'Account self-service pages of this service', ...spec },
        ACTOR,
      );
      return created.client;
    }
    const patch = drift(existing, spec);
    if (Object.keys(patch).length === 0) return existing;
    return (await updateClient(db, ACCOUNT_CLIENT_ID, patch, ACTOR)).client;
  });
}
