import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { accountPasskeysPage } from '../../../../views/pages/account-passkeys.ts';
import { removeAccountPasskey, sendNotice } from '../../../account/index.ts';
import { AppError } from '../../../errors/index.ts';
import { listPasskeys, renamePasskey } from '../../../webauthn/index.ts';
import type { AccountCsrf } from './csrf.ts';
import { sameOriginRequest } from './csrf.ts';
import type { AccountDeps } from './deps.ts';
import type { AccountRequest } from './request.ts';
import { type AccountRoute, type FieldError, formField, notFound } from './route.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const available = (a: AccountRequest) => !!a.deps.passkeys?.relyingParty.available;

async function page(a: AccountRequest, errors?: FieldError[], status = 200): Promise<void> {
  const passkeys = await listPasskeys(a.deps.db, a.user.id);
  a.render(
    accountPasskeysPage({
      ...a.model(errors),
      passkeys,
      available: available(a),
      recent: a.recent,
      reauthHref: `${a.base}/reauth?next=passkeys`,
    }),
    status,
  );
}

const passkeyId = (ctx: Context) => {
  const id = String(ctx.params.id ?? '');
  return UUID.test(id) ? id : '';
};

/**
 * `/account/passkeys`: list, rename, remove and add (registration through the bundled
 * @simplewebauthn/browser helper and passkey.js, ADR-0014). Adding and removing need a recent
 * sign-in; renaming does not (a label unlocks nothing). Another user's passkey is a 404.
 */
export const passkeyRoutes: AccountRoute[] = [
  {
    method: 'GET',
    path: 'passkeys',
    section: 'passkeys',
    handler: (_ctx, a) => page(a),
  },
  {
    method: 'POST',
    path: 'passkeys/register',
    section: 'passkeys',
    formLimit: '64kb',
    async handler(ctx, a) {
      if (!a.requireRecent('passkeys')) return;
      const service = a.deps.passkeys;
      if (!service?.relyingParty.available) return notFound(ctx, a);
      const result = await service.finishRegistration(
        a.deps.db,
        a.deps.store,
        { userId: a.user.id, response: formField(ctx, 'response', 60_000) ?? '', name: formField(ctx, 'name', 256) },
        a.meta,
      );
      if (!result.ok) return page(a, [{ message: a.tr.t('account.passkeys.error_invalid') }], 400);
      await sendNotice(a.deps.mail, 'second_factor_added', a.user.email, a.user.displayName);
      a.redirect('passkeys', 'passkey_added');
    },
  },
  {
    method: 'POST',
    path: 'passkeys/:id/rename',
    section: 'passkeys',
    async handler(ctx, a) {
      const id = passkeyId(ctx);
      try {
        const ok = await renamePasskey(
          a.deps.db,
          { userId: a.user.id, credentialId: id, name: formField(ctx, 'name', 1024) ?? '' },
          a.meta,
        );
        if (!ok) return notFound(ctx, a);
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'validation_failed') throw err;
        return page(a, [{ field: `name-${id}`, message: a.tr.t('account.passkeys.error_name') }], 400);
      }
      a.redirect('passkeys', 'passkey_renamed');
    },
  },
  {
    method: 'POST',
    path: 'passkeys/:id/remove',
    section: 'passkeys',
    async handler(ctx, a) {
      if (!a.requireRecent('passkeys')) return;
      const { removed } = await removeAccountPasskey(a.deps.db, a.user.id, passkeyId(ctx), a.meta);
      if (!removed) return notFound(ctx, a);
      await sendNotice(a.deps.mail, 'second_factor_removed', a.user.email, a.user.displayName);
      a.redirect('passkeys', 'passkey_removed');
    },
  },
];

/**
 * `POST /account/passkeys/options`: the registration options as JSON for passkey.js (CSRF token
 * in `X-CSRF-Token`, which a foreign page cannot set). Refusals are JSON too: the script shows
 * the page's own error message for any non-2xx.
 */
export function passkeyOptionsRoute(
  router: Router,
  deps: AccountDeps,
  o: { csrf: AccountCsrf; errors: Middleware; resolve(ctx: Context): Promise<AccountRequest | undefined> },
): void {
  router.post(`${deps.prefix}/account/passkeys/options`, o.errors, async (ctx: Context) => {
    const refuse = (status: number, error: string) => {
      ctx.status = status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error };
    };
    const a = await o.resolve(ctx);
    if (!a) return refuse(401, 'not_signed_in');
    if (!sameOriginRequest(ctx, deps.issuer) || !o.csrf.verify(a.handle, ctx.get('x-csrf-token'))) return refuse(403, 'csrf');
    if (!a.recent) return refuse(403, 'reauthentication_required');
    if (!deps.passkeys?.relyingParty.available) return refuse(409, 'unavailable');
    const options = await deps.passkeys.startRegistration(deps.db, deps.store, {
      userId: a.user.id,
      userName: a.user.email ?? a.user.id,
      displayName: a.user.displayName ?? a.user.email ?? undefined,
      kind: 'passkey',
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = options;
  });
}
