import Router from '@koa/router';
import type { Knex } from 'knex';
import { type RegisterPermissionInput, registerPermission, registerPermissionInput } from '../../authz/permission-registry.ts';
import { guard, jsonBody } from '../guard.ts';
import { type BearerAuthOptions, bearerAuth, type Principal, requireScopes } from '../middleware/bearer-auth.ts';

/** Permission registry: domain services register the permissions their checks will name. */
export function permissionRoutes(deps: { db: Knex; auth: BearerAuthOptions; bodyLimitKb: number }): Router {
  const router = new Router({ prefix: '/v1/permissions' });
  router.post(
    '/',
    bearerAuth(deps.auth),
    requireScopes('iam.permissions.register'),
    jsonBody(deps.bodyLimitKb),
    guard({ body: registerPermissionInput }),
    async (ctx) => {
      const principal = ctx.state.principal as Principal;
      const input = ctx.state.input.body as RegisterPermissionInput;
      const { permission, created } = await registerPermission(
        deps.db,
        input,
        { type: principal.subType, id: principal.sub },
        { requestId: ctx.state.requestId },
      );
      ctx.status = created ? 201 : 200;
      ctx.set('Location', `/v1/permissions/${permission.key}`);
      ctx.body = permission;
    },
  );
  return router;
}
