import type { Context } from 'koa';
import { accountAppsPage } from '../../../../views/pages/account-apps.ts';
import { accountMessagePage } from '../../../../views/pages/account-common.ts';
import { accountSessionsPage } from '../../../../views/pages/account-sessions.ts';
import { ACCOUNT_CLIENT_ID } from '../../../account/index.ts';
import { CLIENT_ID_PATTERN } from '../../../clients/index.ts';
import { endAccountSessions, listAccountGrants, listAccountSessions, revokeAccountGrants } from '../../../oidc/account-sessions.ts';
import type { AccountRequest } from './request.ts';
import { type AccountRoute, notFound } from './route.ts';
import type { AccountSessions } from './session.ts';

const who = (a: AccountRequest) => ({ actor: { type: 'user' as const, id: a.user.id }, ...a.meta });

/** This browser is signed out (its engine session is gone): the account session ends with it. */
async function signedOut(ctx: Context, a: AccountRequest, sessions: AccountSessions, everywhere: boolean): Promise<void> {
  await sessions.destroy(ctx, a.handle);
  a.render(
    accountMessagePage({
      title: a.tr.t('account.signed_out.title'),
      body: a.tr.t(everywhere ? 'account.signed_out.everywhere_body' : 'account.signed_out.body'),
      link: { href: a.base, label: a.tr.t('account.sign_in_again') },
    }),
  );
}

/**
 * Sessions (`/account/sessions`: list, sign out one, sign out everywhere), this browser's
 * "Sign out", and the applications with access (`/account/apps`: list, remove access). Ending
 * sessions and removing access only ever reduce what the account can do, so they need no recent
 * sign-in. Another user's session or application is a 404 and changes nothing.
 */
export function sessionRoutes(sessions: AccountSessions): AccountRoute[] {
  return [
    {
      method: 'GET',
      path: 'sessions',
      section: 'sessions',
      async handler(_ctx, a) {
        const list = await listAccountSessions(a.deps.db, a.user.id);
        a.render(
          accountSessionsPage({
            ...a.model(),
            sessions: list
              .map((s) => ({
                uid: s.uid,
                current: s.uid === a.session.sessionUid,
                signedInAt: s.signedInAt,
                amr: s.amr,
                apps: s.clients.filter((c) => c.clientId !== ACCOUNT_CLIENT_ID).map((c) => c.name ?? c.clientId),
                device: s.device,
                lastSeenAt: s.lastSeenAt,
              }))
              .sort((x, y) => Number(y.current) - Number(x.current)),
          }),
        );
      },
    },
    {
      method: 'POST',
      path: 'sessions/:uid/revoke',
      section: 'sessions',
      async handler(ctx, a) {
        const uid = String(ctx.params.uid ?? '');
        const { ended } = await endAccountSessions(a.deps.engine, { userId: a.user.id, only: [uid], reason: 'revoked_by_user' }, who(a));
        if (ended.length === 0) return notFound(ctx, a);
        if (uid === a.session.sessionUid) return signedOut(ctx, a, sessions, false);
        a.redirect('sessions', 'session_revoked');
      },
    },
    {
      method: 'POST',
      path: 'sessions/sign-out-everywhere',
      section: 'sessions',
      async handler(ctx, a) {
        await endAccountSessions(a.deps.engine, { userId: a.user.id, reason: 'signed_out_everywhere' }, who(a));
        await signedOut(ctx, a, sessions, true);
      },
    },
    {
      method: 'POST',
      path: 'sign-out',
      section: 'overview',
      async handler(ctx, a) {
        // An ordinary sign-out, like the engine's own: applications' offline access stays (see /account/apps).
        await endAccountSessions(
          a.deps.engine,
          { userId: a.user.id, only: [a.session.sessionUid], reason: 'signed_out', keepOfflineGrants: true },
          who(a),
        );
        await signedOut(ctx, a, sessions, false);
      },
    },
    {
      method: 'GET',
      path: 'apps',
      section: 'apps',
      async handler(_ctx, a) {
        const apps = await listAccountGrants(a.deps.db, a.user.id, { exclude: [ACCOUNT_CLIENT_ID] });
        a.render(
          accountAppsPage({
            ...a.model(),
            apps: apps.map((g) => ({
              clientId: g.clientId,
              name: g.name ?? g.clientId,
              scopes: g.scopes,
              resources: g.resources,
              since: g.firstGrantedAt,
              offline: g.offline,
            })),
          }),
        );
      },
    },
    {
      method: 'POST',
      path: 'apps/:clientId/revoke',
      section: 'apps',
      async handler(ctx, a) {
        const clientId = String(ctx.params.clientId ?? '');
        if (!CLIENT_ID_PATTERN.test(clientId) || clientId === ACCOUNT_CLIENT_ID) return notFound(ctx, a);
        const revoked = await revokeAccountGrants(a.deps.engine, { userId: a.user.id, clientId }, who(a));
        if (revoked === 0) return notFound(ctx, a);
        a.redirect('apps', 'app_revoked');
      },
    },
  ];
}
