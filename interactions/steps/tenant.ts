import type { Context } from 'koa';
import { AppError } from '../../src/errors/index.ts';
import { SELECT_TENANT_PROMPT, TENANT_PARAM, type TenantSelectionResult } from '../../src/oidc/tenant-selection.ts';
import {
  isActiveMember,
  isTenantRef,
  joinByVerifiedDomain,
  type SignInTenantAccess,
  selectableTenants,
  signInTenantAccess,
} from '../../src/tenancy/index.ts';
import { type TenantDenial, tenantDeniedPage, tenantJoinPage, tenantPickerPage } from '../../views/pages/tenant.ts';
import type { Flow } from '../flow.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The tenant the request is about: a tenant client's own, else the `tenant` parameter (id or slug). */
function namedTenant(flow: Flow): string | undefined {
  if (flow.client.tenantId) return flow.client.tenantId;
  const param = flow.params[TENANT_PARAM];
  return isTenantRef(param) ? param : undefined;
}

async function emailOf(flow: Flow, userId: string): Promise<string | undefined> {
  const row = await flow.deps.db('users').where({ id: userId }).first('email');
  return row?.email ?? undefined;
}

/** Ends the prompt with the tenant; the engine checks it again when the request resumes. */
async function finish(ctx: Context, flow: Flow, result: Partial<TenantSelectionResult>): Promise<void> {
  const returnTo = await flow.deps
    .provider()
    .interactionResult(ctx.req, ctx.res, { select_tenant: result }, { mergeWithLastSubmission: true });
  redirect303(ctx, returnTo, [new URL(flow.deps.issuer).origin]);
}

async function deny(ctx: Context, flow: Flow): Promise<void> {
  const returnTo = await flow.deps
    .provider()
    .interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'the account has no access to the requested tenant' },
      { mergeWithLastSubmission: false },
    );
  redirect303(ctx, returnTo, [new URL(flow.deps.issuer).origin]);
}

function renderDenied(ctx: Context, flow: Flow, access: SignInTenantAccess, email: string | undefined): void {
  const denial: TenantDenial = access.kind === 'membership_suspended' || access.kind === 'tenant_suspended' ? access.kind : 'unavailable';
  flow.render(
    ctx,
    tenantDeniedPage({
      ...flow.model('tenant'),
      email,
      denial,
      ...(access.kind !== 'unavailable' ? { tenantName: access.tenant.name } : {}),
    }),
    403,
  );
}

/**
 * The `select_tenant` prompt (src/oidc/tenant-selection.ts), after sign-in and before consent:
 *
 * - a tenant is named (a tenant client's own, or `tenant=`) that the user is not a member of:
 *   "Join <tenant>" when the tenant lets the user's verified email domain join, else a page
 *   saying why not, whose button returns `access_denied` to the client;
 * - nothing named and the user has several tenants: the picker. A submitted tenant the user is
 *   not an active member of (a tampered form) is refused with the picker again, 400.
 */
export const tenantStep: Step = {
  path: 'tenant',
  async get(ctx, flow) {
    const userId = flow.session?.accountId;
    if (flow.prompt.name !== SELECT_TENANT_PROMPT || !userId) return redirect303(ctx, flow.url());
    const email = await emailOf(flow, userId);
    const named = namedTenant(flow);
    if (named) {
      const access = await signInTenantAccess(flow.deps.db, userId, named);
      if (access.kind === 'member') return finish(ctx, flow, { tenant_id: access.tenant.id });
      if (access.kind === 'joinable') return flow.render(ctx, tenantJoinPage({ ...flow.model('tenant'), email, tenant: access.tenant }));
      return renderDenied(ctx, flow, access, email);
    }
    const tenants = await selectableTenants(flow.deps.db, userId);
    // Memberships changed since the prompt was raised: the engine decides again on resume.
    if (tenants.length <= 1) return finish(ctx, flow, tenants[0] ? { tenant_id: tenants[0].id } : {});
    flow.render(ctx, tenantPickerPage({ ...flow.model('tenant'), email, tenants }));
  },
  async post(ctx, flow) {
    const userId = flow.session?.accountId;
    if (flow.prompt.name !== SELECT_TENANT_PROMPT || !userId) return redirect303(ctx, flow.url());
    const decision = formField(ctx, 'decision', 16);
    const named = namedTenant(flow);
    if (named) {
      if (decision === 'leave') return deny(ctx, flow);
      const access = await signInTenantAccess(flow.deps.db, userId, named);
      if (access.kind === 'member') return finish(ctx, flow, { tenant_id: access.tenant.id });
      if (decision !== 'join' || access.kind !== 'joinable') return renderDenied(ctx, flow, access, await emailOf(flow, userId));
      try {
        await joinByVerifiedDomain(flow.deps.db, access.tenant.id, userId, flow.requestMeta(ctx));
      } catch (err) {
        // No longer offered (settings or domain changed meanwhile), or joined in another tab.
        if (!(err instanceof AppError) || (err.code !== 'not_found' && err.code !== 'conflict')) throw err;
        const now = await signInTenantAccess(flow.deps.db, userId, named);
        if (now.kind !== 'member') return renderDenied(ctx, flow, now, await emailOf(flow, userId));
      }
      return finish(ctx, flow, { tenant_id: access.tenant.id });
    }
    const chosen = formField(ctx, 'tenant', 64);
    if (chosen && UUID.test(chosen) && (await isActiveMember(flow.deps.db, userId, chosen)))
      return finish(ctx, flow, { tenant_id: chosen });
    const tenants = await selectableTenants(flow.deps.db, userId);
    const errors = [{ message: flow.tr.t('tenant.select.error_required') }];
    flow.render(ctx, tenantPickerPage({ ...flow.model('tenant', errors), email: await emailOf(flow, userId), tenants }), 400);
  },
};
