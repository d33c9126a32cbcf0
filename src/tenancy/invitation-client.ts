import type { Knex } from 'knex';
import { type ClientRecord, createClient, getClient, updateClient } from '../clients/index.ts';
import { withAdvisoryLock } from '../db/locks.ts';
import { AppError } from '../errors/index.ts';

/**
 * Accepting an invitation in the browser signs the person in (or up) through the ordinary sign-in
 * pages, as a first-party relying party of this issuer: a public client (PKCE, no secret — its
 * code is redeemed in-process, as the account pages do), `openid` only, one redirect URI
 * `<issuer>/invitations/callback`. Ensured at every start so an issuer change moves it along.
 * It never acts in a tenant (no tenant is asked for at its sign-in) and issues no token.
 */
export const INVITATION_CLIENT_ID = 'iam-invitations';
export const INVITATION_ACCEPT_PATH = '/invitations/accept';
export const INVITATION_CALLBACK_PATH = '/invitations/callback';

const ACTOR = { type: 'system', id: 'invitations' } as const;

/** `<issuer>/invitations/callback`: issuer origin and path, never anything from a request. */
export function invitationCallbackUri(issuer: string): string {
  const url = new URL(issuer);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}${INVITATION_CALLBACK_PATH}`;
}

const wanted = (issuer: string) => ({
  first_party: true,
  application_type: 'web' as const,
  token_endpoint_auth_method: 'none' as const,
  grant_types: ['authorization_code' as const],
  redirect_uris: [invitationCallbackUri(issuer)],
  post_logout_redirect_uris: [] as string[],
  allowed_scopes: ['openid'],
  allowed_resources: [] as string[],
});

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Creates the invitation client, or brings a drifted one back to its specification (audited as
 * any client change). Throws `validation_failed` when the issuer cannot carry a redirect URI.
 */
export async function ensureInvitationClient(db: Knex, issuer: string): Promise<ClientRecord> {
  const spec = wanted(issuer);
  return withAdvisoryLock(db, 'iam:invitation-client', async () => {
    let existing: ClientRecord | undefined;
    try {
      existing = await getClient(db, INVITATION_CLIENT_ID);
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'not_found')) throw err;
    }
    if (!existing) {
      const created = await createClient(
        db,
        {
          client_id: INVITATION_CLIENT_ID,
          name: 'InfraNotes invitations',
          description: 'Accepting tenant invitations in the browser',
          ...spec,
        },
        ACTOR,
      );
      return created.client;
    }
    const drifted =
      existing.first_party !== spec.first_party ||
      existing.token_endpoint_auth_method !== spec.token_endpoint_auth_method ||
      !same(existing.grant_types, spec.grant_types) ||
      !same(existing.redirect_uris, spec.redirect_uris) ||
      !same(existing.post_logout_redirect_uris, spec.post_logout_redirect_uris) ||
      !same(existing.allowed_scopes, spec.allowed_scopes) ||
      !same(existing.allowed_resources, spec.allowed_resources);
    if (!drifted) return existing;
    const { application_type: _type, ...patch } = spec;
    return (await updateClient(db, INVITATION_CLIENT_ID, patch, ACTOR)).client;
  });
}
