import { resolveTxt } from 'node:dns/promises';
import Router from '@koa/router';
import { z } from 'zod';
import { AppError } from '../../../errors/index.ts';
import {
  addDomain,
  addDomainInput,
  domainName,
  joinByVerifiedDomain,
  listDomains,
  removeDomain,
  verifyDomain,
} from '../../../tenancy/index.ts';
import { type AdminDeps, admin, callerOf, input, REVISION_HEADER, read, uuidParam, write } from './support.ts';

const tenantParams = z.object({ tenantId: uuidParam }).strict();
const domainParams = z.object({ tenantId: uuidParam, domain: domainName }).strict();
type DomainParams = z.infer<typeof domainParams>;

/** Email domains of a tenant (DNS-verified) and joining a tenant through one. */
export function domainRoutes(deps: AdminDeps): Router[] {
  const router = new Router({ prefix: '/v1/tenants/:tenantId/domains' });
  const lookup = deps.resolveTxt ?? resolveTxt;

  router.get('/', ...admin(deps, { params: tenantParams }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await read(ctx, deps.db, (trx) => listDomains(trx, callerOf(ctx), tenantId));
  });

  router.post('/', ...admin(deps, { params: tenantParams, body: addDomainInput }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    const { domain } = input<{ domain: string }>(ctx, 'body');
    await write(
      ctx,
      deps,
      tenantId,
      async (trx) => ({
        status: 201,
        body: await addDomain(trx, callerOf(ctx), tenantId, domain),
        location: `/v1/tenants/${tenantId}/domains/${domain}`,
      }),
      { idempotentCreate: true },
    );
  });

  router.post('/:domain/verify', ...admin(deps, { params: domainParams }), async (ctx) => {
    const { tenantId, domain } = input<DomainParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => ({
      status: 200,
      body: await verifyDomain(trx, callerOf(ctx), tenantId, domain, lookup),
    }));
  });

  router.delete('/:domain', ...admin(deps, { params: domainParams }), async (ctx) => {
    const { tenantId, domain } = input<DomainParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      await removeDomain(trx, callerOf(ctx), tenantId, domain);
      return { status: 204 };
    });
  });

  const join = new Router({ prefix: '/v1/tenants/:tenantId/join' });
  join.post('/', ...admin(deps, { params: tenantParams }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    const caller = callerOf(ctx);
    if (caller.actor.type !== 'user') throw new AppError('forbidden', { detail: 'only a signed-in user can join a tenant' });
    if (caller.actor.tokenTenantId && caller.actor.tokenTenantId !== tenantId)
      throw new AppError('not_found', { detail: 'no such tenant to join' });
    const joined = await joinByVerifiedDomain(deps.db, tenantId, caller.actor.sub, caller.meta);
    ctx.set(REVISION_HEADER, String(joined.revision));
    ctx.status = 201;
    ctx.body = { tenant_id: joined.tenant_id, user_id: joined.user_id, roles: joined.roles };
  });

  return [router, join];
}
