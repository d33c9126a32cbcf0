import type { Context } from 'koa';
import { recordAudit } from '../../src/audit/index.ts';
import { extendGrant, type GrantRequest } from '../../src/oidc/grants.ts';
import { consentPage } from '../../views/pages/consent.ts';
import type { Flow } from '../flow.ts';
import { redirect303 } from '../redirect.ts';
import { formField, type Step } from '../step.ts';

/** What the consent prompt says is missing from the client's grant. */
function missing(flow: Flow): GrantRequest {
  const d = flow.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  return {
    oidcScopes: d.missingOIDCScope ?? [],
    claims: d.missingOIDCClaims ?? [],
    resourceScopes: d.missingResourceScopes ?? {},
  };
}

async function emailOf(flow: Flow): Promise<string | undefined> {
  const id = flow.session?.accountId;
  if (!id) return undefined;
  const row = await flow.deps.db('users').where({ id }).first('email');
  return row?.email ?? undefined;
}

/** Grants what is missing (extending the existing grant) and finishes the consent prompt. */
async function grantAndFinish(ctx: Context, flow: Flow, request: GrantRequest): Promise<void> {
  const provider = flow.deps.provider();
  const accountId = flow.session?.accountId as string;
  const existing = flow.interaction.grantId ? await provider.Grant.find(flow.interaction.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId: flow.client.clientId });
  extendGrant(grant, request);
  const grantId = await grant.save();
  if (!flow.client.firstParty) await audit(ctx, flow, 'oauth.consent.granted', 'success', { grant_id: grantId, ...request });
  // Merged with the login result so the resumed request keeps its fresh authentication (max_age).
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  redirect303(ctx, returnTo, [new URL(flow.deps.issuer).origin]);
}

async function audit(ctx: Context, flow: Flow, action: string, outcome: 'success' | 'failure', details: object) {
  const meta = flow.requestMeta(ctx);
  const accountId = flow.session?.accountId as string;
  await flow.deps.db.transaction((trx) =>
    recordAudit(trx, {
      action,
      actor: { type: 'user', id: accountId },
      outcome,
      target: { type: 'client', id: flow.client.clientId },
      tenantId: meta.tenantId,
      ip: meta.ip,
      userAgent: meta.userAgent,
      requestId: meta.requestId,
      details: { client_id: flow.client.clientId, ...details },
    }),
  );
}

/**
 * The consent prompt. First-party clients never see it (their grant is made without asking,
 * here or already in `loadExistingGrant`); third-party clients show what they ask for — OpenID
 * scopes and API scopes per resource — with Allow and Deny (→ `access_denied`).
 */
export const consentStep: Step = {
  path: 'consent',
  async get(ctx, flow) {
    if (flow.prompt.name !== 'consent' || !flow.session?.accountId) return redirect303(ctx, flow.url());
    const request = missing(flow);
    if (flow.client.firstParty) return grantAndFinish(ctx, flow, request);
    flow.render(
      ctx,
      consentPage({ ...flow.model('consent'), email: await emailOf(flow), scopes: request.oidcScopes, resources: request.resourceScopes }),
    );
  },
  async post(ctx, flow) {
    if (flow.prompt.name !== 'consent' || !flow.session?.accountId) return redirect303(ctx, flow.url());
    const decision = formField(ctx, 'decision', 16);
    if (decision === 'allow') return grantAndFinish(ctx, flow, missing(flow));
    if (decision !== 'deny') return redirect303(ctx, flow.url('consent'));
    await audit(ctx, flow, 'oauth.consent.denied', 'failure', {});
    const returnTo = await flow.deps
      .provider()
      .interactionResult(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'End-User denied the request' },
        { mergeWithLastSubmission: false },
      );
    redirect303(ctx, returnTo, [new URL(flow.deps.issuer).origin]);
  },
};
