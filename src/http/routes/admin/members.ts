import Router from '@koa/router';
import { z } from 'zod';
import {
  getMember,
  listMembers,
  listMembersQuery,
  memberEtag,
  reactivateMember,
  removeMember,
  suspendMember,
} from '../../../tenancy/index.ts';
import { type AdminDeps, admin, callerOf, input, read, uuidParam, write } from './support.ts';

const tenantParams = z.object({ tenantId: uuidParam }).strict();
const memberParams = z.object({ tenantId: uuidParam, userId: uuidParam }).strict();
type MemberParams = z.infer<typeof memberParams>;

/** Members of a tenant: /v1/tenants/{tenantId}/members. */
export function memberRoutes(deps: AdminDeps): Router {
  const router = new Router({ prefix: '/v1/tenants/:tenantId/members' });

  router.get('/', ...admin(deps, { params: tenantParams, query: listMembersQuery }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await read(ctx, deps.db, (trx) => listMembers(trx, callerOf(ctx), tenantId, input(ctx, 'query')));
  });

  router.get('/:userId', ...admin(deps, { params: memberParams }), async (ctx) => {
    const { tenantId, userId } = input<MemberParams>(ctx, 'params');
    await read(ctx, deps.db, (trx) => getMember(trx, callerOf(ctx), tenantId, userId), memberEtag);
  });

  router.post('/:userId/suspend', ...admin(deps, { params: memberParams }), async (ctx) => {
    const { tenantId, userId } = input<MemberParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      const member = await suspendMember(trx, callerOf(ctx), tenantId, userId, ctx.get('if-match') || undefined, deps.memberTokens);
      return { status: 200, body: member, etag: memberEtag(member) };
    });
  });

  router.post('/:userId/reactivate', ...admin(deps, { params: memberParams }), async (ctx) => {
    const { tenantId, userId } = input<MemberParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      const member = await reactivateMember(trx, callerOf(ctx), tenantId, userId, ctx.get('if-match') || undefined);
      return { status: 200, body: member, etag: memberEtag(member) };
    });
  });

  router.delete('/:userId', ...admin(deps, { params: memberParams }), async (ctx) => {
    const { tenantId, userId } = input<MemberParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      await removeMember(trx, callerOf(ctx), tenantId, userId, ctx.get('if-match') || undefined, deps.memberTokens);
      return { status: 204 };
    });
  });

  return router;
}
