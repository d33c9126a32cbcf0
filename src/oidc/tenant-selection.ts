import { type Account, errors, type FindAccount, type Grant, interactionPolicy } from 'oidc-provider';
import { currentUnitOfWork } from '../../adapters/index.ts';
import type { Knex } from '../db/knex.ts';
import { isActiveMember, isTenantRef, selectableTenants, signInTenantAccess } from '../tenancy/sign-in-tenants.ts';
import { iamMetadata } from './client-metadata.ts';
import { extendGrant, grantRequestOf } from './grants.ts';

const { Check, Prompt } = interactionPolicy;

/**
 * The tenant of a grant (issue 5: a user belongs to many tenants, picks one at sign-in or
 * switches later; tenant-scoped tokens carry `tid`).
 *
 * - A tenant client acts in its own tenant: the user must be an active member of it (or may join
 *   it by a verified email domain when the tenant allows that); `tid` is the client's tenant.
 * - A platform client acts in the tenant named by the `tenant` authorization parameter (id or
 *   slug), else the one chosen on the tenant page in this sign-in, else the tenant of the
 *   session's grant for the client (the previous choice stays until switched), else the user's
 *   only tenant; with several the tenant page asks, with none there is no `tid`.
 *
 * The choice is kept with the grant (`grant_tenants`, written once, before any token of the grant
 * exists): switching tenants makes a new grant, so every token of a grant, refreshed ones too,
 * names the same tenant. Suspended tenants and memberships cannot be selected, and a refresh of a
 * grant whose tenant or membership is no longer active fails (`invalid_grant`).
 *
 * The `select_tenant` prompt (between login and consent) sends the browser to the tenant page
 * (interactions/steps/tenant.ts) when the choice is the person's: picking among several tenants,
 * joining by verified domain, or being told the tenant is not available to them
 * (`access_denied` without a browser: `prompt=none`).
 */

/** The authorization parameter naming a tenant (declared through the engine's `extraParams`). */
export const TENANT_PARAM = 'tenant';

/** The prompt and what the tenant page reads from it. */
export const SELECT_TENANT_PROMPT = 'select_tenant';
export const SELECT_TENANT_REASONS = {
  /** Several tenants and nothing names one: the picker. */
  select: 'tenant_selection_required',
  /** The named tenant is not the user's, but the user may join it by verified email domain. */
  join: 'tenant_join_offered',
  /** The named tenant is not available to the user (not a member, suspended, no such tenant). */
  denied: 'tenant_access_denied',
} as const;

/** What the tenant page submits: `interactionResult({ select_tenant: { tenant_id } })`. */
export interface TenantSelectionResult {
  tenant_id: string;
}

export type TenantResolution =
  | { settled: true; tenantId: string | null }
  | { settled: false; reason: (typeof SELECT_TENANT_REASONS)[keyof typeof SELECT_TENANT_REASONS] };

interface SelectionCtx {
  oidc: {
    client?: { clientId: string };
    session?: { uid?: string; accountId?: string; grantIdFor(clientId: string): string | undefined };
    account?: { accountId: string };
    params?: Record<string, unknown>;
    result?: { consent?: { grantId?: string }; select_tenant?: Partial<TenantSelectionResult> };
    entities?: Record<string, { grantId?: string; jti?: string } | undefined>;
    provider: { Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> } };
  };
}

interface Bound {
  tenantId: string;
  accountId: string;
}

/** Grant → tenant rows never change once written, so they are cached (absence for a short while). */
class GrantTenantCache {
  readonly #entries = new Map<string, { value: Bound | null; until: number }>();
  readonly #max: number;
  readonly #absentMs: number;

  constructor(max = 10_000, absentMs = 60_000) {
    this.#max = max;
    this.#absentMs = absentMs;
  }

  get(grantId: string): Bound | null | undefined {
    const hit = this.#entries.get(grantId);
    if (!hit) return undefined;
    if (hit.until < Date.now()) {
      this.#entries.delete(grantId);
      return undefined;
    }
    return hit.value;
  }

  set(grantId: string, value: Bound | null): void {
    this.#entries.delete(grantId);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(grantId, { value, until: value ? Number.POSITIVE_INFINITY : Date.now() + this.#absentMs });
  }
}

export interface TenantSelection {
  /** The engine's `extraParams` entry for `tenant`: a tenant id or slug, else `invalid_request`. */
  validateParam(ctx: unknown, value: unknown): Promise<void>;
  /** The tenant of this request's grant, or why the person must be asked (memoised per request). */
  resolve(ctx: unknown): Promise<TenantResolution>;
  /** The `select_tenant` prompt, to be placed before `consent`. */
  prompt(): InstanceType<typeof Prompt>;
  /** Wraps `loadExistingGrant`: a grant is reused only for the tenant it was made for. */
  loadExistingGrant(inner: (ctx: unknown) => Promise<Grant | undefined>): (ctx: unknown) => Promise<Grant | undefined>;
  /**
   * `tid` of a user token of a platform client, from its grant; throws `invalid_grant` when the
   * grant's tenant or the user's membership is no longer active.
   */
  tokenTenant(grantId: string, accountId: string): Promise<string | undefined>;
  /**
   * A user token of a tenant's own client: the user must still be an active member of that tenant
   * (a removed or suspended member can no longer redeem a code or refresh); else `invalid_grant`.
   */
  requireMember(tenantId: string, accountId: string): Promise<void>;
  /** Wraps `findAccount` so ID tokens and userinfo carry `tid` (mapped to the `openid` scope). */
  findAccount(inner: FindAccount): FindAccount;
  /** The tenant a grant was made for, if any (tests, diagnostics). */
  grantTenant(grantId: string): Promise<string | undefined>;
}

export interface TenantSelectionOptions {
  /**
   * Clients that never act in a tenant (the account pages, invitation acceptance): no tenant is
   * asked for or kept, and their tokens carry none.
   */
  tenantless?: readonly string[];
}

export function createTenantSelection(db: Knex, opts: TenantSelectionOptions = {}): TenantSelection {
  const cache = new GrantTenantCache();
  const tenantless = new Set(opts.tenantless ?? []);
  const isTenantless = (client: { clientId: string } | undefined) => !!client && tenantless.has(client.clientId);
  const memo = new WeakMap<object, Promise<TenantResolution>>();

  async function bound(grantId: string): Promise<Bound | null> {
    const hit = cache.get(grantId);
    if (hit !== undefined) return hit;
    const row = await db('grant_tenants').where({ grant_id: grantId }).first('tenant_id', 'account_id');
    const value = row ? { tenantId: row.tenant_id as string, accountId: row.account_id as string } : null;
    cache.set(grantId, value);
    return value;
  }

  async function bind(grantId: string, tenantId: string, c: SelectionCtx, accountId: string, clientId: string): Promise<void> {
    const row = {
      grant_id: grantId,
      tenant_id: tenantId,
      account_id: accountId,
      client_id: clientId,
      session_uid: c.oidc.session?.uid ?? null,
    };
    const unit = currentUnitOfWork();
    if (unit?.defers('Grant')) {
      // The resume request: the row joins the transaction that writes the Grant itself (one write per
      // login, ADR-0015). No token of the grant is issued before that commits, so nothing reads it first.
      unit.join(db, async (trx) => {
        await trx('grant_tenants').insert(row).onConflict('grant_id').ignore();
      });
      cache.set(grantId, { tenantId, accountId });
      return;
    }
    await db('grant_tenants').insert(row).onConflict('grant_id').ignore();
    // Whoever won the insert, the stored row is the truth.
    cache.set(grantId, null);
    const stored = await db('grant_tenants').where({ grant_id: grantId }).first('tenant_id', 'account_id');
    cache.set(grantId, stored ? { tenantId: stored.tenant_id as string, accountId: stored.account_id as string } : null);
  }

  /** The live grant this session made earlier for the client in `tenantId`, if any. */
  async function sessionGrantOf(c: SelectionCtx, tenantId: string, accountId: string, clientId: string): Promise<Grant | undefined> {
    const sessionUid = c.oidc.session?.uid;
    if (!sessionUid) return undefined;
    const ids = (await db('grant_tenants')
      .where({ session_uid: sessionUid, client_id: clientId, tenant_id: tenantId, account_id: accountId })
      .orderBy('created_at', 'desc')
      .limit(3)
      .pluck('grant_id')) as string[];
    for (const id of ids) {
      const grant = await c.oidc.provider.Grant.find(id);
      if (grant && grant.accountId === accountId && grant.clientId === clientId) return grant;
    }
    return undefined;
  }

  const accountOf = (c: SelectionCtx) => c.oidc.account?.accountId ?? c.oidc.session?.accountId;

  async function compute(c: SelectionCtx): Promise<TenantResolution> {
    const { oidc } = c;
    const userId = accountOf(c);
    const clientTenant = iamMetadata(oidc.client).tenant_id;
    // No user yet (the login prompt asks first), or a client that never acts in a tenant.
    if (!userId || isTenantless(oidc.client)) return { settled: true, tenantId: clientTenant };
    const target = clientTenant ?? (isTenantRef(oidc.params?.[TENANT_PARAM]) ? (oidc.params?.[TENANT_PARAM] as string) : undefined);
    if (target) {
      const access = await signInTenantAccess(db, userId, target);
      if (access.kind === 'member') return { settled: true, tenantId: access.tenant.id };
      return { settled: false, reason: access.kind === 'joinable' ? SELECT_TENANT_REASONS.join : SELECT_TENANT_REASONS.denied };
    }
    const chosen = oidc.result?.select_tenant;
    if (typeof chosen?.tenant_id === 'string' && (await isActiveMember(db, userId, chosen.tenant_id))) {
      return { settled: true, tenantId: chosen.tenant_id };
    }
    const clientId = oidc.client?.clientId;
    const sessionGrant = clientId ? oidc.session?.grantIdFor(clientId) : undefined;
    const previous = sessionGrant ? await bound(sessionGrant) : null;
    if (previous && previous.accountId === userId && (await isActiveMember(db, userId, previous.tenantId))) {
      return { settled: true, tenantId: previous.tenantId };
    }
    const tenants = await selectableTenants(db, userId);
    if (tenants.length <= 1) return { settled: true, tenantId: tenants[0]?.id ?? null };
    return { settled: false, reason: SELECT_TENANT_REASONS.select };
  }

  function resolve(ctx: unknown): Promise<TenantResolution> {
    const key = ctx as object;
    let found = memo.get(key);
    if (!found) {
      found = compute(ctx as SelectionCtx);
      memo.set(key, found);
    }
    return found;
  }

  const pendingWith = (reason: string) => async (ctx: unknown) => {
    const r = await resolve(ctx);
    return !r.settled && r.reason === reason ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
  };

  return {
    async validateParam(_ctx, value) {
      if (value === undefined) return;
      if (!isTenantRef(value)) throw new errors.InvalidRequest(`${TENANT_PARAM} must be a tenant id or slug`);
    },

    resolve,

    prompt() {
      const prompt = new Prompt({ name: SELECT_TENANT_PROMPT, requestable: false });
      prompt.checks.add(
        new Check(
          SELECT_TENANT_REASONS.select,
          'a tenant must be selected',
          'interaction_required',
          pendingWith(SELECT_TENANT_REASONS.select),
        ),
      );
      prompt.checks.add(
        new Check(SELECT_TENANT_REASONS.join, 'the tenant can be joined', 'interaction_required', pendingWith(SELECT_TENANT_REASONS.join)),
      );
      prompt.checks.add(
        new Check(
          SELECT_TENANT_REASONS.denied,
          'the account has no access to the requested tenant',
          'access_denied',
          pendingWith(SELECT_TENANT_REASONS.denied),
        ),
      );
      return prompt;
    },

    loadExistingGrant(inner) {
      return async (ctx) => {
        const c = ctx as SelectionCtx;
        const { oidc } = c;
        const meta = iamMetadata(oidc.client);
        const clientId = oidc.client?.clientId;
        const accountId = accountOf(c);
        // Tenant clients: the tenant is the client's, nothing to keep per grant.
        if (meta.tenant_id || !clientId || !accountId || isTenantless(oidc.client)) return inner(ctx);
        const r = await resolve(ctx);
        // Undecided: the select_tenant prompt asks before any grant is made or reused.
        if (!r.settled) return undefined;
        const consentGrant = oidc.result?.consent?.grantId;
        const candidate = consentGrant ?? oidc.session?.grantIdFor(clientId);
        const was = candidate ? await bound(candidate) : null;
        // A grant consented to in this sign-in is new: it takes the tenant of this request.
        const fresh = Boolean(consentGrant) && !was;
        if (candidate && !fresh && (was?.tenantId ?? null) !== r.tenantId) {
          // The session's grant belongs to another tenant: it stays as it is (its tokens keep their
          // tid). This tenant gets the grant this session made for it before, else a new one —
          // third-party clients through consent.
          const request = grantRequestOf(ctx as Parameters<typeof grantRequestOf>[0]);
          const earlier = r.tenantId ? await sessionGrantOf(c, r.tenantId, accountId, clientId) : undefined;
          if (earlier) {
            if (meta.first_party && extendGrant(earlier, request)) await earlier.save();
            return earlier;
          }
          if (!meta.first_party) return undefined;
          const grant = new oidc.provider.Grant({ accountId, clientId });
          extendGrant(grant, request);
          const id = await grant.save();
          if (r.tenantId) await bind(id, r.tenantId, c, accountId, clientId);
          return grant;
        }
        const grant = await inner(ctx);
        if (grant?.jti && r.tenantId && !was && (grant.jti !== candidate || fresh))
          await bind(grant.jti, r.tenantId, c, accountId, clientId);
        return grant;
      };
    },

    async tokenTenant(grantId, accountId) {
      const b = await bound(grantId);
      if (!b) return undefined;
      if (b.accountId !== accountId || !(await isActiveMember(db, accountId, b.tenantId))) {
        throw new errors.InvalidGrant('the tenant of this grant is no longer available to the user');
      }
      return b.tenantId;
    },

    async requireMember(tenantId, accountId) {
      if (!(await isActiveMember(db, accountId, tenantId))) {
        throw new errors.InvalidGrant('the user is no longer an active member of this tenant');
      }
    },

    findAccount(inner) {
      return async (ctx, sub, token) => {
        const account = await inner(ctx, sub, token);
        if (!account) return account;
        const tid = await tenantOfContext(ctx as unknown as SelectionCtx, token as { grantId?: string } | undefined);
        if (!tid) return account;
        const claims: Account['claims'] = async (...args) => ({ ...(await account.claims(...args)), tid });
        return { ...account, claims };
      };
    },

    async grantTenant(grantId) {
      return (await bound(grantId))?.tenantId;
    },
  };

  /** The tenant of the grant a claims request is about (code, refresh or access token). */
  async function tenantOfContext(c: SelectionCtx, token: { grantId?: string } | undefined): Promise<string | undefined> {
    const clientTenant = iamMetadata(c.oidc?.client).tenant_id;
    if (clientTenant) return clientTenant;
    const e = c.oidc?.entities ?? {};
    const grantId = token?.grantId ?? e.AuthorizationCode?.grantId ?? e.RefreshToken?.grantId ?? e.AccessToken?.grantId;
    return grantId ? (await bound(grantId))?.tenantId : undefined;
  }
}
