import type { Knex } from 'knex';

/**
 * Queues OpenID Connect back-channel logout notifications for sessions that are about to end
 * (ADR-0019). Call it inside the transaction that deletes the engine `Session` rows, before it
 * does: one row per (session, client signed in through it) whose client registered a
 * `backchannel_logout_uri`. A service instance delivers them (src/oidc/backchannel-delivery.ts),
 * so this works from the CLI too, where no engine runs. Returns how many were queued.
 */
export async function queueBackchannelLogouts(
  trx: Knex.Transaction,
  input: { accountId: string; reason: 'user_disabled' | 'session_ended'; sessionUids?: readonly string[] },
): Promise<number> {
  const bySession = input.sessionUids ? 'and s.uid = any(?::text[])' : '';
  const res = await trx.raw(
    `insert into backchannel_logouts (client_id, account_id, sid, reason)
     select a.key, s.account_id, a.value->>'sid', ?
       from oidc_models s
       cross join lateral jsonb_each(case when jsonb_typeof(s.payload->'authorizations') = 'object'
                                          then s.payload->'authorizations' else '{}'::jsonb end) a
       join oauth_clients c on c.client_id = a.key and c.metadata->>'backchannel_logout_uri' is not null
      where s.model = 'Session' and s.account_id = ? and (s.expires_at is null or s.expires_at > now()) ${bySession}`,
    input.sessionUids ? [input.reason, input.accountId, [...input.sessionUids]] : [input.reason, input.accountId],
  );
  return res.rowCount ?? 0;
}
