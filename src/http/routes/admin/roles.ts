import Router from '@koa/router';
import { z } from 'zod';
import {
  type CreateRoleInput,
  createRole,
  createRoleInput,
  deleteRole,
  getRole,
  listRoles,
  listRolesQuery,
  listTemplates,
  roleEtag,
  type UpdateRoleInput,
  updateRole,
  updateRoleInput,
} from '../../../tenancy/index.ts';
import { type AdminDeps, admin, callerOf, input, read, uuidParam, write } from './support.ts';

const tenantParams = z.object({ tenantId: uuidParam }).strict();
const roleParams = z.object({ tenantId: uuidParam, roleId: uuidParam }).strict();
type RoleParams = z.infer<typeof roleParams>;

/** Role templates (global) and the roles of a tenant. */
export function roleRoutes(deps: AdminDeps): Router[] {
  const templates = new Router({ prefix: '/v1/role-templates' });
  templates.get('/', ...admin(deps, {}), async (ctx) => {
    ctx.body = { items: await listTemplates(deps.db), next_cursor: null };
  });

  const router = new Router({ prefix: '/v1/tenants/:tenantId/roles' });

  router.get('/', ...admin(deps, { params: tenantParams, query: listRolesQuery }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await read(ctx, deps.db, (trx) => listRoles(trx, callerOf(ctx), tenantId, input(ctx, 'query')));
  });

  router.post('/', ...admin(deps, { params: tenantParams, body: createRoleInput }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    const body = input<CreateRoleInput>(ctx, 'body');
    await write(
      ctx,
      deps,
      tenantId,
      async (trx) => {
        const role = await createRole(trx, callerOf(ctx), tenantId, body);
        return { status: 201, body: role, location: `/v1/tenants/${tenantId}/roles/${role.id}`, etag: roleEtag(role) };
      },
      { idempotentCreate: true },
    );
  });

  router.get('/:roleId', ...admin(deps, { params: roleParams }), async (ctx) => {
    const { tenantId, roleId } = input<RoleParams>(ctx, 'params');
    await read(ctx, deps.db, (trx) => getRole(trx, callerOf(ctx), tenantId, roleId), roleEtag);
  });

  router.patch('/:roleId', ...admin(deps, { params: roleParams, body: updateRoleInput }, { body: true }), async (ctx) => {
    const { tenantId, roleId } = input<RoleParams>(ctx, 'params');
    const body = input<UpdateRoleInput>(ctx, 'body');
    await write(ctx, deps, tenantId, async (trx) => {
      const role = await updateRole(trx, callerOf(ctx), tenantId, roleId, body, ctx.get('if-match') || undefined);
      return { status: 200, body: role, etag: roleEtag(role) };
    });
  });

  router.delete('/:roleId', ...admin(deps, { params: roleParams }), async (ctx) => {
    const { tenantId, roleId } = input<RoleParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      await deleteRole(trx, callerOf(ctx), tenantId, roleId, ctx.get('if-match') || undefined);
      return { status: 204 };
    });
  });

  return [templates, router];
}
