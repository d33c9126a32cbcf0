import Router from '@koa/router';
import { z } from 'zod';
import {
  type CreateTenantInput,
  createTenant,
  createTenantInput,
  deleteTenant,
  getTenant,
  type ListTenantsQuery,
  leaveTenant,
  listTenants,
  listTenantsQuery,
  reactivateTenant,
  type StatusChangeInput,
  statusChangeInput,
  suspendTenant,
  tenantEtag,
  type UpdateTenantInput,
  updateTenant,
  updateTenantInput,
} from '../../tenancy/index.ts';
import { type AdminDeps, admin, callerOf, input, read, uuidParam, write, writeOutsideTenant } from './admin/support.ts';

const tenantParams = z.object({ tenantId: uuidParam }).strict();
/** Suspend and delete take an optional `{reason}`; an empty body is fine. */
const optionalReason = statusChangeInput.optional().transform((v): StatusChangeInput => v ?? {});

/** Tenant lifecycle: /v1/tenants (ADR-0017). */
export function tenantRoutes(deps: AdminDeps): Router {
  const router = new Router({ prefix: '/v1/tenants' });

  router.post('/', ...admin(deps, { body: createTenantInput }, { body: true }), async (ctx) => {
    const body = input<CreateTenantInput>(ctx, 'body');
    await writeOutsideTenant(ctx, deps, async (trx) => {
      const tenant = await createTenant(trx, callerOf(ctx), body);
      return { tenantId: tenant.id, status: 201, body: tenant, location: `/v1/tenants/${tenant.id}`, etag: tenantEtag(tenant) };
    });
  });

  router.get('/', ...admin(deps, { query: listTenantsQuery }), async (ctx) => {
    ctx.body = await listTenants(deps.db, callerOf(ctx).actor, input<ListTenantsQuery>(ctx, 'query'));
  });

  router.get('/:tenantId', ...admin(deps, { params: tenantParams }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await read(ctx, deps.db, (trx) => getTenant(trx, callerOf(ctx), tenantId), tenantEtag);
  });

  router.patch('/:tenantId', ...admin(deps, { params: tenantParams, body: updateTenantInput }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    const body = input<UpdateTenantInput>(ctx, 'body');
    await write(ctx, deps, tenantId, async (trx) => {
      const tenant = await updateTenant(trx, callerOf(ctx), tenantId, body, ctx.get('if-match') || undefined);
      return { status: 200, body: tenant, etag: tenantEtag(tenant) };
    });
  });

  router.post('/:tenantId/suspend', ...admin(deps, { params: tenantParams, body: optionalReason }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      const tenant = await suspendTenant(trx, callerOf(ctx), tenantId, input<StatusChangeInput>(ctx, 'body'));
      return { status: 200, body: tenant, etag: tenantEtag(tenant) };
    });
  });

  router.post('/:tenantId/reactivate', ...admin(deps, { params: tenantParams }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      const tenant = await reactivateTenant(trx, callerOf(ctx), tenantId);
      return { status: 200, body: tenant, etag: tenantEtag(tenant) };
    });
  });

  router.delete('/:tenantId', ...admin(deps, { params: tenantParams, body: optionalReason }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      const tenant = await deleteTenant(trx, callerOf(ctx), tenantId, input<StatusChangeInput>(ctx, 'body'), deps.deletionRetentionDays);
      return { status: 200, body: tenant };
    });
  });

  router.post('/:tenantId/leave', ...admin(deps, { params: tenantParams }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      await leaveTenant(trx, callerOf(ctx), tenantId, deps.memberTokens);
      return { status: 204 };
    });
  });

  return router;
}
