import type * as grpc from '@grpc/grpc-js';
import type { CallerAuthenticator } from '../authz/caller-auth.ts';
import {
  type ApiCaller,
  batchCheckRequestSchema,
  type CheckApi,
  checkRequestSchema,
  effectivePermissionsRequestSchema,
  type WireReason,
} from '../authz/check-api.ts';
import type { ScopeRef } from '../authz/model.ts';
import { AppError } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';
import { peerThumbprint, requestIdOf, toServiceError, trailers } from './errors.ts';
import { loadContract } from './server.ts';

/*
 * iam.v1.AuthorizationService: the REST check API's twin. Requests are translated to the REST
 * shape and validated by the same schemas, answered by the same CheckApi, so both transports
 * decide, authorise and fail alike.
 */

interface ProtoScope {
  type: string;
  id: string;
}
interface ProtoPrincipal {
  type: string;
  id: string;
}
interface ProtoBase {
  tenant_id: string;
  principal: ProtoPrincipal | null;
  min_revision: number;
}

const lowerSuffix = (value: string, prefix: string) => (value.startsWith(prefix) ? value.slice(prefix.length).toLowerCase() : value);
const scope = (s: ProtoScope) => ({ type: lowerSuffix(s.type, 'SCOPE_TYPE_'), id: s.id });
const chain = (c: ProtoScope[] | undefined) => (c ?? []).map(scope);
const base = (r: ProtoBase) => ({
  ...(r.tenant_id ? { tenant_id: r.tenant_id } : {}),
  principal: r.principal ? { type: lowerSuffix(r.principal.type, 'PRINCIPAL_TYPE_'), id: r.principal.id } : undefined,
  ...(r.min_revision ? { min_revision: r.min_revision } : {}),
});

const protoScope = (s: ScopeRef) => ({ type: `SCOPE_TYPE_${s.type.toUpperCase()}`, id: s.id });

function protoReason(r: WireReason) {
  switch (r.kind) {
    case 'binding':
      return { binding: { binding_id: r.binding_id, role_key: r.role_key, scope: protoScope(r.scope) } };
    case 'override':
      return {
        override: {
          override_id: r.override_id,
          effect: `OVERRIDE_EFFECT_${r.effect.toUpperCase()}`,
          scope: protoScope(r.scope),
          reason: r.reason ?? '',
        },
      };
    case 'no_grant':
      return { no_grant: {} };
    case 'inactive':
      return { inactive: { detail: r.detail } };
  }
}

function parse<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  value: unknown,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new AppError('validation_failed', {
    detail: 'the request does not match its schema',
    invalidParams: r.error.issues.map((i) => ({ name: ['request', ...i.path.map(String)].join('.'), reason: i.message })),
  });
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/** Profile C: the bearer token in metadata, its copies consistent, its certificate binding honoured. */
async function authenticate(call: grpc.ServerUnaryCall<unknown, unknown>, auth: CallerAuthenticator): Promise<ApiCaller> {
  const md = call.metadata;
  const header = md.get('authorization');
  const match = header.length === 1 && typeof header[0] === 'string' ? BEARER.exec(header[0]) : null;
  if (!match?.[1]) throw new AppError('unauthorized', { detail: 'a bearer access token is required' });
  const caller = await auth.authenticate(match[1]);
  const copies: [string, string | undefined][] = [
    ['iam-subject', caller.sub],
    ['iam-subject-type', caller.subType],
    ['iam-tenant', caller.tenantId],
  ];
  for (const [key, expected] of copies) {
    const v = md.get(key);
    if (v.length > 1 || (v.length === 1 && v[0] !== expected)) {
      throw new AppError('unauthorized', { detail: `metadata ${key} does not match the access token` });
    }
  }
  if (caller.certThumbprint !== undefined && caller.certThumbprint !== peerThumbprint(call)) {
    throw new AppError('unauthorized', { detail: 'the access token is bound to another client certificate' });
  }
  return caller;
}

export function authorizationService(deps: { api: CheckApi; auth: CallerAuthenticator; logger: Logger }): {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
} {
  const pkg = loadContract('iam/v1/authorization.proto') as unknown as {
    iam: { v1: { AuthorizationService: grpc.ServiceClientConstructor } };
  };
  const unary =
    <Req, Res>(fn: (caller: ApiCaller, req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const requestId = requestIdOf(call.metadata);
      authenticate(call as grpc.ServerUnaryCall<unknown, unknown>, deps.auth)
        .then((caller) => fn(caller, call.request))
        .then(
          (res) => callback(null, res, trailers(requestId)),
          (err: unknown) => callback(toServiceError(err, requestId, deps.logger)),
        );
    };

  return {
    definition: pkg.iam.v1.AuthorizationService.service,
    implementation: {
      Check: unary(async (caller, req: ProtoBase & { permission: string; scope_chain: ProtoScope[] }) => {
        const input = parse(checkRequestSchema, { ...base(req), permission: req.permission, scope_chain: chain(req.scope_chain) });
        const r = await deps.api.check(caller, input);
        return { allowed: r.allowed, decision_id: r.decision_id, revision: r.revision, reason: protoReason(r.reason) };
      }),
      BatchCheck: unary(async (caller, req: ProtoBase & { checks: { permission: string; scope_chain: ProtoScope[] }[] }) => {
        const input = parse(batchCheckRequestSchema, {
          ...base(req),
          checks: (req.checks ?? []).map((c) => ({ permission: c.permission, scope_chain: chain(c.scope_chain) })),
        });
        const r = await deps.api.batchCheck(caller, input);
        return {
          revision: r.revision,
          results: r.results.map((d) => ({ allowed: d.allowed, decision_id: d.decision_id, reason: protoReason(d.reason) })),
        };
      }),
      ListEffectivePermissions: unary(async (caller, req: ProtoBase & { scope_chain: ProtoScope[] }) => {
        const input = parse(effectivePermissionsRequestSchema, { ...base(req), scope_chain: chain(req.scope_chain) });
        return deps.api.effectivePermissions(caller, input);
      }),
    },
  };
}
