import type { Knex } from 'knex';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import { type CheckOptions, type CheckService, MAX_BATCH_CHECKS } from './check-service.ts';
import { type ClientWorkloads, createClientWorkloads } from './client-workloads.ts';
import type { DecisionReason, PrincipalRef, ScopeRef } from './model.ts';
import { permissionKey } from './permission-registry.ts';

/**
 * The check API as both transports serve it (REST `/v1/authz/*`, gRPC `iam.v1.AuthorizationService`):
 * request schemas, who may ask, and the wire shape of answers. Transports only authenticate
 * the caller and translate.
 *
 * Who may ask (ADR-0016): a caller whose token is scoped to the tenant (`tid`) and who holds
 * `iam.authz.check` there — decided by this same engine — or any principal asking about
 * itself, which reveals nothing it could not learn by trying (override reasons are withheld
 * then: they are written for administrators). Another tenant is not found (404 / NOT_FOUND).
 */

export const CHECK_PERMISSION = 'iam.authz.check';

const RANK = { tenant: 0, team: 1, project: 2 } as const;

export const scopeRefSchema = z
  .object({ type: z.enum(['tenant', 'team', 'project']), id: z.string().min(1).max(256) })
  .strict()
  // Tenant ids are uuids, compared in their canonical lower case; team and project ids are opaque.
  .transform((s): ScopeRef => (s.type === 'tenant' ? { type: s.type, id: s.id.toLowerCase() } : s));

/** Widest first, at most one scope of each type: tenant → team → project (ADR-0006). */
export const scopeChainSchema = z
  .array(scopeRefSchema)
  .max(3)
  .refine((chain) => chain.every((s, i) => i === 0 || RANK[s.type] > RANK[(chain[i - 1] as ScopeRef).type]), {
    message: 'scopes go from the widest to the narrowest, at most one of each type (tenant, team, project)',
  });

export const principalRefSchema = z
  .object({ type: z.enum(['user', 'workload']), id: z.uuid().transform((id) => id.toLowerCase()) })
  .strict();

const minRevision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional();
const tenantId = z.uuid().optional();

/** The request schemas as written: the reference the compiled ones below must agree with (tested). */
export const runtimeRequestSchemas = {
  check: z
    .object({
      tenant_id: tenantId,
      principal: principalRefSchema,
      permission: permissionKey,
      scope_chain: scopeChainSchema.default([]),
      min_revision: minRevision,
    })
    .strict(),
  batchCheck: z
    .object({
      tenant_id: tenantId,
      principal: principalRefSchema,
      checks: z
        .array(z.object({ permission: permissionKey, scope_chain: scopeChainSchema.default([]) }).strict())
        .min(1)
        .max(MAX_BATCH_CHECKS),
      min_revision: minRevision,
    })
    .strict(),
  effectivePermissions: z
    .object({
      tenant_id: tenantId,
      principal: principalRefSchema,
      scope_chain: scopeChainSchema.default([]),
      min_revision: minRevision,
    })
    .strict(),
};

/*
 * The request schemas sit on every check (REST and gRPC), so they are compiled (`z.compile`): a
 * generated parser answers valid requests and hands anything it would refuse to the runtime parser,
 * so errors read exactly as before. `strict`: a schema the compiler cannot model fails at start-up
 * instead of running on the runtime parser unnoticed. Measured in ADR-0016 (amendment of the night of
 * 2026-12-06).
 */
export const checkRequestSchema = z.compile(runtimeRequestSchemas.check, { strict: true });
export const batchCheckRequestSchema = z.compile(runtimeRequestSchemas.batchCheck, { strict: true });
export const effectivePermissionsRequestSchema = z.compile(runtimeRequestSchemas.effectivePermissions, { strict: true });

export type CheckRequest = z.infer<typeof checkRequestSchema>;
export type BatchCheckRequest = z.infer<typeof batchCheckRequestSchema>;
export type EffectivePermissionsRequest = z.infer<typeof effectivePermissionsRequestSchema>;

/** What a transport learned from the caller's validated access token. */
export interface ApiCaller {
  sub: string;
  subType: 'user' | 'workload';
  tenantId?: string;
  clientId?: string;
  /** `cnf.x5t#S256`: the token is bound to this client certificate (RFC 8705). */
  certThumbprint?: string;
}

export type WireReason =
  | { kind: 'binding'; binding_id: string; role_key: string; scope: ScopeRef }
  | { kind: 'override'; override_id: string; effect: 'allow' | 'deny'; scope: ScopeRef; reason?: string }
  | { kind: 'no_grant' }
  | { kind: 'inactive'; detail: string };

export interface WireDecision {
  allowed: boolean;
  decision_id: string;
  reason: WireReason;
}

export function toWireReason(r: DecisionReason, withOverrideReason: boolean): WireReason {
  switch (r.kind) {
    case 'binding':
      return { kind: 'binding', binding_id: r.bindingId, role_key: r.roleKey, scope: r.scope };
    case 'override':
      return withOverrideReason
        ? { kind: 'override', override_id: r.overrideId, effect: r.effect, scope: r.scope, reason: r.reason }
        : { kind: 'override', override_id: r.overrideId, effect: r.effect, scope: r.scope };
    case 'no_grant':
      return { kind: 'no_grant' };
    case 'inactive':
      return { kind: 'inactive', detail: r.detail };
  }
}

/** How long a workload caller's principal is reused per token (a missing link is never kept here). */
const CALLER_PRINCIPAL_TTL_MS = 1_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CheckApi {
  check(caller: ApiCaller, req: CheckRequest): Promise<WireDecision & { revision: number }>;
  batchCheck(caller: ApiCaller, req: BatchCheckRequest): Promise<{ revision: number; results: WireDecision[] }>;
  effectivePermissions(caller: ApiCaller, req: EffectivePermissionsRequest): Promise<{ revision: number; permissions: string[] }>;
}

/** `workloads`: the client → workload lookup shared with token issuance (one cache per instance). */
export function createCheckApi(deps: { db: Knex; checks: CheckService; workloads?: ClientWorkloads }): CheckApi {
  const { checks } = deps;
  const workloads = deps.workloads ?? createClientWorkloads({ db: deps.db });

  // A workload caller's principal, per verified token: the caller authenticator hands out the same
  // ApiCaller object while it keeps the token, so an identity lookup replaces a string-keyed one. Kept
  // briefly on top of the client → workload cache, whose own lifetime says how fresh a link is.
  const known = new WeakMap<ApiCaller, { principal: PrincipalRef; until: number }>();

  const callerPrincipal = async (caller: ApiCaller, tenant: string): Promise<PrincipalRef | null> => {
    if (caller.subType === 'user') return UUID.test(caller.sub) ? { type: 'user', id: caller.sub.toLowerCase() } : null;
    const hit = known.get(caller);
    if (hit && hit.until > Date.now()) return hit.principal;
    // client_credentials tokens name the client (RFC 9068 §2.2): its workload identity is the principal.
    const id = await workloads.workloadOf(tenant, caller.clientId ?? caller.sub);
    const principal: PrincipalRef | null = id ? { type: 'workload', id } : null;
    if (principal) known.set(caller, { principal, until: Date.now() + CALLER_PRINCIPAL_TTL_MS });
    return principal;
  };

  /** Resolves the tenant and says whether the caller sees override reasons (false: asking about itself only). */
  const authorize = async (
    caller: ApiCaller,
    requested: string | undefined,
    subject: PrincipalRef,
    opts: CheckOptions,
  ): Promise<{ tenant: string; admin: boolean }> => {
    if (!caller.tenantId) throw new AppError('forbidden', { detail: 'the access token is not scoped to a tenant' });
    const tenant = caller.tenantId.toLowerCase();
    if (requested !== undefined && requested.toLowerCase() !== tenant) throw new AppError('not_found', { detail: 'no such tenant' });
    const me = await callerPrincipal(caller, tenant);
    if (me) {
      if (await checks.allows(tenant, me, CHECK_PERMISSION, [], opts)) return { tenant, admin: true };
      if (me.type === subject.type && me.id.toLowerCase() === subject.id) return { tenant, admin: false };
    }
    throw new AppError('forbidden', { detail: `${CHECK_PERMISSION} is required to ask about other principals` });
  };

  const optsOf = (r: { min_revision?: number | undefined }): CheckOptions =>
    r.min_revision === undefined ? {} : { minRevision: r.min_revision };

  return {
    async check(caller, req) {
      const opts = optsOf(req);
      const { tenant, admin } = await authorize(caller, req.tenant_id, req.principal, opts);
      const r = await checks.check(tenant, req.principal, req.permission, req.scope_chain, opts);
      return { allowed: r.allowed, decision_id: r.decisionId, revision: r.revision, reason: toWireReason(r.reason, admin) };
    },
    async batchCheck(caller, req) {
      const opts = optsOf(req);
      const { tenant, admin } = await authorize(caller, req.tenant_id, req.principal, opts);
      const r = await checks.batchCheck(
        tenant,
        req.principal,
        req.checks.map((c) => ({ permission: c.permission, chain: c.scope_chain })),
        opts,
      );
      return {
        revision: r.revision,
        results: r.results.map((x) => ({ allowed: x.allowed, decision_id: x.decisionId, reason: toWireReason(x.reason, admin) })),
      };
    },
    async effectivePermissions(caller, req) {
      const opts = optsOf(req);
      const { tenant } = await authorize(caller, req.tenant_id, req.principal, opts);
      return checks.listEffective(tenant, req.principal, req.scope_chain, opts);
    },
  };
}
