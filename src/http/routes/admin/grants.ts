import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Caller, Page } from '../../../tenancy/index.ts';
import {
  createBinding,
  createBindingInput,
  createDelegation,
  createDelegationInput,
  createOverride,
  createOverrideInput,
  deleteBinding,
  deleteOverride,
  getBinding,
  getDelegation,
  getOverride,
  listBindings,
  listBindingsQuery,
  listDelegations,
  listDelegationsQuery,
  listOverrides,
  listOverridesQuery,
  revokeDelegation,
} from '../../../tenancy/index.ts';
import { type AdminDeps, admin, callerOf, input, read, uuidParam, write } from './support.ts';

/**
 * Bindings, overrides and delegations share one shape: list, create (idempotent), get, delete.
 * One table describes each collection so the three routers cannot drift apart.
 */
interface Collection {
  /** Path segment under the tenant, and the id parameter's name. */
  path: string;
  idParam: string;
  list: { query: z.ZodType; run: (trx: Knex.Transaction, caller: Caller, tenantId: string, query: never) => Promise<Page<unknown>> };
  create: { body: z.ZodType; run: (trx: Knex.Transaction, caller: Caller, tenantId: string, body: never) => Promise<{ id: string }> };
  get: (trx: Knex.Transaction, caller: Caller, tenantId: string, id: string) => Promise<unknown>;
  remove: (trx: Knex.Transaction, caller: Caller, tenantId: string, id: string) => Promise<void>;
}

const COLLECTIONS: Collection[] = [
  {
    path: 'bindings',
    idParam: 'bindingId',
    list: { query: listBindingsQuery, run: listBindings },
    create: { body: createBindingInput, run: createBinding },
    get: getBinding,
    remove: deleteBinding,
  },
  {
    path: 'overrides',
    idParam: 'overrideId',
    list: { query: listOverridesQuery, run: listOverrides },
    create: { body: createOverrideInput, run: createOverride },
    get: getOverride,
    remove: deleteOverride,
  },
  {
    path: 'delegations',
    idParam: 'delegationId',
    list: { query: listDelegationsQuery, run: listDelegations },
    create: { body: createDelegationInput, run: createDelegation },
    get: getDelegation,
    remove: revokeDelegation,
  },
];

function collectionRouter(deps: AdminDeps, c: Collection): Router {
  const router = new Router({ prefix: `/v1/tenants/:tenantId/${c.path}` });
  const tenantParams = z.object({ tenantId: uuidParam }).strict();
  const itemParams = z.object({ tenantId: uuidParam, [c.idParam]: uuidParam }).strict();
  const item = (ctx: Context) => {
    const p = input<Record<string, string>>(ctx, 'params');
    return { tenantId: p.tenantId as string, id: p[c.idParam] as string };
  };

  router.get('/', ...admin(deps, { params: tenantParams, query: c.list.query }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await read(ctx, deps.db, (trx) => c.list.run(trx, callerOf(ctx), tenantId, input<never>(ctx, 'query')));
  });

  router.post('/', ...admin(deps, { params: tenantParams, body: c.create.body }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await write(
      ctx,
      deps,
      tenantId,
      async (trx) => {
        const created = await c.create.run(trx, callerOf(ctx), tenantId, input<never>(ctx, 'body'));
        return { status: 201, body: created, location: `/v1/tenants/${tenantId}/${c.path}/${created.id}` };
      },
      { idempotentCreate: true },
    );
  });

  router.get(`/:${c.idParam}`, ...admin(deps, { params: itemParams }), async (ctx) => {
    const { tenantId, id } = item(ctx);
    await read(ctx, deps.db, (trx) => c.get(trx, callerOf(ctx), tenantId, id));
  });

  router.delete(`/:${c.idParam}`, ...admin(deps, { params: itemParams }), async (ctx) => {
    const { tenantId, id } = item(ctx);
    await write(ctx, deps, tenantId, async (trx) => {
      await c.remove(trx, callerOf(ctx), tenantId, id);
      return { status: 204 };
    });
  });

  return router;
}

/** /v1/tenants/{tenantId}/bindings, /overrides and /delegations. */
export function grantRoutes(deps: AdminDeps): Router[] {
  return COLLECTIONS.map((c) => collectionRouter(deps, c));
}
