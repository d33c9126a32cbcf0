import type { Context } from 'koa';
import { errors } from 'oidc-provider';
import type { DeferredWrite } from '../src/identity/index.ts';
import { iamMetadata } from '../src/oidc/client-metadata.ts';
import type { TenantSignInPolicy } from '../src/oidc/tenant-policy.ts';
import { validIp } from '../src/security/index.ts';
import { negotiateLocale, type Translator, translator } from '../views/i18n.ts';
import { type PageContent, sendPage } from '../views/layout.ts';
import type { StepPageModel } from '../views/pages/common.ts';
import { createCsrfTokens } from './csrf.ts';
import type { InteractionDeps } from './deps.ts';
import { emptyState, loadState, type SignInState, saveState } from './state.ts';

/** The engine's interaction ids (nanoid); anything else never reaches the store. */
export const UID_PATTERN = /^[A-Za-z0-9_-]{10,64}$/;

type EngineInteraction = Awaited<ReturnType<ReturnType<InteractionDeps['provider']>['interactionDetails']>>;

export interface FlowClient {
  clientId: string;
  name: string;
  firstParty: boolean;
  tenantId: string | null;
}

/** Everything a step handler needs about the interaction it serves. */
export interface Flow {
  readonly uid: string;
  readonly interaction: EngineInteraction;
  readonly prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
  readonly params: Record<string, unknown>;
  readonly client: FlowClient;
  readonly tenant: TenantSignInPolicy;
  /** The signed-in session the request came with, if any. */
  readonly session?: { accountId: string; uid?: string; acr?: string; amr?: string[] };
  /** Mutable: change it, then `save()`. */
  state: SignInState;
  /**
   * Writes of this request's successful step (e.g. the password's audit row), run in one
   * transaction with the login's own when it completes here, else before the next page (`advance`).
   */
  readonly deferred: DeferredWrite[];
  readonly csrf: string;
  readonly tr: Translator;
  /** Origins a form of this interaction may end at (the client's redirect URI): CSP form-action. */
  readonly formTargets: readonly string[];
  readonly deps: InteractionDeps;
  /** Path of a step of this interaction ('' = the entry). */
  url(step?: string): string;
  save(): Promise<void>;
  /** The shared part of every step page's model. */
  model(step: string, errors?: StepPageModel['errors']): StepPageModel;
  render(ctx: Context, page: PageContent, status?: number): void;
  /** Audit/request context of the current request. */
  requestMeta(ctx: Context): { ip?: string; userAgent?: string; requestId?: string; tenantId?: string };
}

/** The interaction cannot be used (expired, unknown, other browser): the "expired" page. */
export class InteractionExpired extends Error {
  constructor(message = 'interaction expired or not found') {
    super(message);
    this.name = 'InteractionExpired';
  }
}

export function translatorFor(ctx: Context, params?: Record<string, unknown>): Translator {
  return translator(negotiateLocale({ uiLocales: params?.ui_locales, acceptLanguage: ctx.get('accept-language') }));
}

/**
 * Loads the interaction named in the path — which must be the one the browser's signed
 * interaction cookie names (the engine checks the cookie and, when the interaction belongs to a
 * session, that the session is still the same) — with its client, its tenant's sign-in policy
 * and the sign-in state so far.
 */
export async function loadFlow(ctx: Context, deps: InteractionDeps, csrf = createCsrfTokens(deps.cookieKeys)): Promise<Flow> {
  const uid = String(ctx.params.uid ?? '');
  if (!UID_PATTERN.test(uid)) throw new InteractionExpired('malformed interaction id');
  const provider = deps.provider();
  let interaction: EngineInteraction;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) throw new InteractionExpired(err.error_description);
    throw err;
  }
  if (interaction.uid !== uid) throw new InteractionExpired('interaction cookie names another interaction');

  const params = interaction.params as Record<string, unknown>;
  const engineClient = await provider.Client.find(String(params.client_id ?? ''));
  if (!engineClient) throw new InteractionExpired('client no longer available');
  const meta = iamMetadata(engineClient);
  const client: FlowClient = {
    clientId: engineClient.clientId,
    name: (engineClient.clientName as string | undefined) ?? engineClient.clientId,
    firstParty: meta.first_party,
    tenantId: meta.tenant_id,
  };
  const [tenant, stored] = await Promise.all([deps.tenantPolicy(client.tenantId), loadState(deps.store, uid)]);
  const redirectOrigin = typeof params.redirect_uri === 'string' ? URL.parse(params.redirect_uri)?.origin : undefined;
  const prompt = interaction.prompt as Flow['prompt'];
  const tr = translatorFor(ctx, params);
  const token = csrf.issue(uid);
  const base = `${deps.prefix}/interaction/${uid}`;
  const session = interaction.session?.accountId ? interaction.session : undefined;

  const flow: Flow = {
    uid,
    interaction,
    prompt: { name: prompt.name, reasons: [...(prompt.reasons ?? [])], details: { ...(prompt.details ?? {}) } },
    params,
    client,
    tenant,
    session,
    state: stored ?? emptyState(),
    deferred: [],
    csrf: token,
    tr,
    formTargets: redirectOrigin && redirectOrigin !== 'null' ? [redirectOrigin] : [],
    deps,
    url: (step = '') => (step ? `${base}/${step}` : base),
    save: () => saveState(deps.store, uid, flow.state, interaction.exp - Math.floor(Date.now() / 1000)),
    model: (step, errs) => ({
      tr,
      csrf: token,
      clientName: client.name,
      action: flow.url(step),
      abortAction: flow.url('abort'),
      formTargets: flow.formTargets,
      errors: errs,
    }),
    render: (c, page, status = 200) => sendPage(c, page, { t: tr, assetsBase: deps.prefix, status }),
    requestMeta: (c) => ({
      ip: validIp(c.ip),
      userAgent: c.get('user-agent') || undefined,
      requestId: c.state.requestId as string | undefined,
      ...(client.tenantId ? { tenantId: client.tenantId } : {}),
    }),
  };
  return flow;
}
