import Router from '@koa/router';
import { z } from 'zod';
import { AppError } from '../../../errors/index.ts';
import {
  acceptInvitation,
  acceptInvitationInput,
  type CreateInvitationInput,
  createInvitation,
  createInvitationInput,
  getInvitation,
  type InvitationMail,
  listInvitations,
  listInvitationsQuery,
  resendInvitation,
  revokeInvitation,
} from '../../../tenancy/index.ts';
import { type AdminDeps, admin, callerOf, input, REVISION_HEADER, read, uuidParam, write } from './support.ts';

const tenantParams = z.object({ tenantId: uuidParam }).strict();
const invitationParams = z.object({ tenantId: uuidParam, invitationId: uuidParam }).strict();
type InvitationParams = z.infer<typeof invitationParams>;

const mailOf = (deps: AdminDeps): InvitationMail => ({
  mailer: deps.mailer,
  issuer: deps.issuer,
  productName: deps.productName,
  ttlSeconds: deps.invitationTtlS,
});

/** Invitations of a tenant, and their acceptance by a signed-in user. */
export function invitationRoutes(deps: AdminDeps): Router[] {
  const router = new Router({ prefix: '/v1/tenants/:tenantId/invitations' });

  router.post('/', ...admin(deps, { params: tenantParams, body: createInvitationInput }, { body: true }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    const body = input<CreateInvitationInput>(ctx, 'body');
    await write(
      ctx,
      deps,
      tenantId,
      async (trx) => {
        const invitation = await createInvitation(trx, callerOf(ctx), tenantId, body, mailOf(deps));
        return { status: 201, body: invitation, location: `/v1/tenants/${tenantId}/invitations/${invitation.id}` };
      },
      { idempotentCreate: true },
    );
  });

  router.get('/', ...admin(deps, { params: tenantParams, query: listInvitationsQuery }), async (ctx) => {
    const { tenantId } = input<{ tenantId: string }>(ctx, 'params');
    await read(ctx, deps.db, (trx) => listInvitations(trx, callerOf(ctx), tenantId, input(ctx, 'query')));
  });

  router.get('/:invitationId', ...admin(deps, { params: invitationParams }), async (ctx) => {
    const { tenantId, invitationId } = input<InvitationParams>(ctx, 'params');
    await read(ctx, deps.db, (trx) => getInvitation(trx, callerOf(ctx), tenantId, invitationId));
  });

  router.post('/:invitationId/resend', ...admin(deps, { params: invitationParams }), async (ctx) => {
    const { tenantId, invitationId } = input<InvitationParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => ({
      status: 200,
      body: await resendInvitation(trx, callerOf(ctx), tenantId, invitationId, mailOf(deps)),
    }));
  });

  router.delete('/:invitationId', ...admin(deps, { params: invitationParams }), async (ctx) => {
    const { tenantId, invitationId } = input<InvitationParams>(ctx, 'params');
    await write(ctx, deps, tenantId, async (trx) => {
      await revokeInvitation(trx, callerOf(ctx), tenantId, invitationId);
      return { status: 204 };
    });
  });

  const accept = new Router({ prefix: '/v1/invitations' });
  accept.post('/accept', ...admin(deps, { body: acceptInvitationInput }, { body: true }), async (ctx) => {
    const caller = callerOf(ctx);
    if (caller.actor.type !== 'user') throw new AppError('forbidden', { detail: 'invitations are accepted by a signed-in user' });
    const { token } = input<{ token: string }>(ctx, 'body');
    const accepted = await acceptInvitation(deps.db, token, { id: caller.actor.sub }, caller.meta);
    ctx.set(REVISION_HEADER, String(accepted.revision));
    ctx.status = 200;
    ctx.body = { tenant_id: accepted.tenant_id, invitation_id: accepted.invitation_id, user_id: accepted.user_id, roles: accepted.roles };
  });

  return [router, accept];
}
