import { isIP } from 'node:net';
import type { Knex } from 'knex';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Mailer } from '../../../mail/index.ts';
import {
  type Caller,
  currentRevision,
  idempotent,
  type MemberTokens,
  PLATFORM_ADMIN,
  type StoredResponse,
  tenantWrite,
} from '../../../tenancy/index.ts';
import { guard, jsonBody } from '../../guard.ts';
import { type BearerAuthOptions, bearerAuth, type Principal } from '../../middleware/bearer-auth.ts';

/** Everything the admin routers need; built once in app.ts. */
export interface AdminDeps {
  db: Knex;
  auth: BearerAuthOptions;
  bodyLimitKb: number;
  mailer: Mailer;
  issuer: string;
  productName: string;
  invitationTtlS: number;
  deletionRetentionDays: number;
  idempotencyTtlS: number;
  /** What ending a membership does to the member's tokens in the tenant. */
  memberTokens: MemberTokens;
  /** DNS TXT lookups for domain verification (node:dns by default). */
  resolveTxt?: (name: string) => Promise<string[][]>;
}

/** Header carrying the tenant's authorization revision after a write (ADR-0017). */
export const REVISION_HEADER = 'IAM-Authz-Revision';

export const uuidParam = z.uuid();

/** The authenticated caller and the request facts its audit events record. */
export function callerOf(ctx: Context): Caller {
  const p = ctx.state.principal as Principal;
  return {
    actor: {
      type: p.subType,
      sub: p.sub,
      platformAdmin: p.scopes.has(PLATFORM_ADMIN),
      ...(p.tenantId ? { tokenTenantId: p.tenantId } : {}),
    },
    meta: {
      requestId: ctx.state.requestId as string | undefined,
      ip: isIP(ctx.ip) ? ctx.ip : undefined,
      userAgent: ctx.get('user-agent') || undefined,
    },
  };
}

/** Authentication, then (for bodies) strict JSON parsing, then schema validation. */
export function admin(deps: AdminDeps, spec: Parameters<typeof guard>[0], opts: { body?: boolean } = {}): Middleware[] {
  return [bearerAuth(deps.auth), ...(opts.body ? [jsonBody(deps.bodyLimitKb)] : []), guard(spec)];
}

export function input<T>(ctx: Context, part: 'body' | 'query' | 'params'): T {
  return (ctx.state.input as Record<string, unknown>)[part] as T;
}

/** A read inside one transaction (the authority decision and the read see one state). */
export async function read<T>(
  ctx: Context,
  db: Knex,
  fn: (trx: Knex.Transaction) => Promise<T>,
  etag?: (value: T) => string,
): Promise<void> {
  const value = await db.transaction(fn);
  if (etag) ctx.set('ETag', etag(value));
  ctx.status = 200;
  ctx.body = value;
}

export interface WriteOutcome {
  status: number;
  body?: unknown;
  location?: string;
  etag?: string;
}

function send(ctx: Context, response: StoredResponse & { replayed?: boolean }): void {
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  if (response.replayed) ctx.set('Idempotent-Replayed', 'true');
  ctx.status = response.status;
  if (response.status !== 204) ctx.body = response.body;
}

async function stored(trx: Knex.Transaction, tenantId: string, outcome: WriteOutcome): Promise<StoredResponse> {
  const headers: Record<string, string> = { [REVISION_HEADER]: String(await currentRevision(trx, tenantId)) };
  if (outcome.location) headers.Location = outcome.location;
  if (outcome.etag) headers.ETag = outcome.etag;
  // Round-tripped through JSON so the first answer and every replay are the same bytes.
  return { status: outcome.status, body: outcome.body === undefined ? null : JSON.parse(JSON.stringify(outcome.body)), headers };
}

/**
 * A change of one tenant: serialised on the tenant's authz revision (see `tenantWrite`), with
 * `Idempotency-Key` honoured when `idempotentCreate` is set, and the revision after the
 * change in `IAM-Authz-Revision`.
 */
export async function write(
  ctx: Context,
  deps: AdminDeps,
  tenantId: string,
  run: (trx: Knex.Transaction) => Promise<WriteOutcome>,
  opts: { idempotentCreate?: boolean } = {},
): Promise<void> {
  const key = opts.idempotentCreate ? ctx.get('idempotency-key') || undefined : undefined;
  const caller = callerOf(ctx);
  const { result } = await tenantWrite(deps.db, tenantId, (trx) =>
    idempotent(
      trx,
      key === undefined
        ? undefined
        : {
            actor: `${caller.actor.type}:${caller.actor.sub}`,
            key,
            tenantId,
            method: ctx.method,
            path: ctx.path,
            body: (ctx.request as { body?: unknown }).body ?? null,
            ttlSeconds: deps.idempotencyTtlS,
          },
      async () => stored(trx, tenantId, await run(trx)),
    ),
  );
  send(ctx, result);
}

/** A create that is not inside an existing tenant (a new tenant): same idempotency rules. */
export async function writeOutsideTenant(
  ctx: Context,
  deps: AdminDeps,
  run: (trx: Knex.Transaction) => Promise<WriteOutcome & { tenantId: string }>,
): Promise<void> {
  const key = ctx.get('idempotency-key') || undefined;
  const caller = callerOf(ctx);
  const result = await deps.db.transaction((trx) =>
    idempotent(
      trx,
      key === undefined
        ? undefined
        : {
            actor: `${caller.actor.type}:${caller.actor.sub}`,
            key,
            method: ctx.method,
            path: ctx.path,
            body: (ctx.request as { body?: unknown }).body ?? null,
            ttlSeconds: deps.idempotencyTtlS,
          },
      async () => {
        const outcome = await run(trx);
        return stored(trx, outcome.tenantId, outcome);
      },
    ),
  );
  send(ctx, result);
}
