import type { Knex } from 'knex';
import { type AuditEvent, recordAudit } from '../audit/index.ts';
import { AppError } from '../errors/index.ts';
import { enqueueEvent } from '../outbox/index.ts';
import {
  CLIENT_ID_PATTERN,
  type ClientSpec,
  type CreateClientInput,
  createClientInput,
  parseInput,
  type RotateSecretInput,
  rotateSecretInput,
  specProblems,
  type UpdateClientInput,
  updateClientInput,
  usesSecret,
  validationError,
} from './schema.ts';
import { generateClientId, generateClientSecret, hashClientSecret, secretHint } from './secrets.ts';
import {
  CLIENTS_CHANGED_CHANNEL,
  type ClientDetails,
  type ClientRecord,
  type ClientRow,
  secretSummaries,
  selectClientRows,
  specColumns,
  toRecord,
  toSpec,
} from './store.ts';

/** Who makes a change (recorded in the audit trail). */
export interface ClientActor {
  type: 'user' | 'workload' | 'client' | 'system';
  id: string;
}

/** Request context for the audit event, and the tenant a tenant-scoped caller is confined to. */
export interface ChangeContext {
  requestId?: string;
  ip?: string;
  userAgent?: string;
  /** When set, a client of another tenant (or a platform client) is reported as not found. */
  tenantId?: string;
}

export interface CreatedClient {
  client: ClientRecord;
  /** The one-time plaintext secret (client_secret_basic/post clients only). */
  secret?: string;
}

export interface UpdatedClient {
  client: ClientRecord;
  /** Members that changed (empty: nothing to do, nothing recorded). */
  changed: string[];
  /** Issued when the update moved the client to a secret-based auth method. */
  secret?: string;
}

export interface RotatedSecret {
  client_id: string;
  secret: string;
  hint: string;
  overlap_seconds: number;
  /** The secrets valid before the rotation, with when they stop working. */
  previous_secrets: { id: string; hint: string | null; expires_at: string | null; revoked_at: string | null }[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Tells every instance's lookup cache that a client changed; delivered when `trx` commits. */
export async function notifyClientsChanged(trx: Knex.Transaction, clientId?: string): Promise<void> {
  await trx.raw('select pg_notify(?, ?)', [CLIENTS_CHANGED_CHANNEL, clientId ?? '']);
}

async function recordChange(
  trx: Knex.Transaction,
  change: { event: 'created' | 'updated' | 'deleted' | 'secret_rotated'; client: ClientRecord; actor: ClientActor; ctx: ChangeContext },
  details: Record<string, unknown>,
  data: Record<string, unknown> = {},
): Promise<void> {
  const { client, actor, ctx } = change;
  const auditEvent: AuditEvent = {
    action: `client.${change.event}`,
    actor,
    tenantId: client.tenant_id ?? undefined,
    target: { type: 'client', id: client.client_id },
    requestId: ctx.requestId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    details,
  };
  await recordAudit(trx, auditEvent);
  await enqueueEvent(trx, {
    type: `com.infranotes.iam.client.${change.event}`,
    key: client.client_id,
    tenantId: client.tenant_id ?? undefined,
    data: { client_id: client.client_id, ...data },
  });
  await notifyClientsChanged(trx, client.client_id);
}

function assertSpec(spec: ClientSpec): void {
  const problems = specProblems(spec);
  if (problems.length) throw validationError(problems);
}

const isUniqueViolation = (err: unknown, constraint: string) =>
  (err as { code?: string }).code === '23505' && (err as { constraint?: string }).constraint === constraint;

async function insertSecret(trx: Knex.Transaction, internalId: string, actor: ClientActor): Promise<string> {
  const secret = generateClientSecret();
  await trx('client_secrets').insert({
    client_id: internalId,
    secret_hash: hashClientSecret(secret),
    hint: secretHint(secret),
    created_by: createdBy(actor),
  });
  return secret;
}

const createdBy = (actor: ClientActor) => (actor.type === 'user' && UUID.test(actor.id) ? actor.id : null);

/** Locks and returns the client row, honouring a tenant confinement; not_found otherwise. */
async function lockClient(trx: Knex.Transaction, clientId: string, ctx: ChangeContext): Promise<ClientRow> {
  const row = CLIENT_ID_PATTERN.test(clientId)
    ? ((await selectClientRows(trx).where('c.client_id', clientId).forUpdate().first()) as ClientRow | undefined)
    : undefined;
  if (!row || (ctx.tenantId !== undefined && row.tenant_id !== ctx.tenantId)) {
    throw new AppError('not_found', { detail: `client ${clientId} not found` });
  }
  return row;
}

/**
 * Registers a client. Confidential clients using client_secret_basic/post get a secret, returned
 * here once and stored only as its SHA-256; public (`none`) and private_key_jwt clients get none.
 */
export async function createClient(
  db: Knex,
  input: CreateClientInput,
  actor: ClientActor,
  ctx: ChangeContext = {},
): Promise<CreatedClient> {
  const parsed = parseInput(createClientInput, input);
  const tenantId = ctx.tenantId ?? parsed.tenant_id ?? null;
  if (ctx.tenantId !== undefined && parsed.tenant_id != null && parsed.tenant_id !== ctx.tenantId) {
    throw new AppError('forbidden', { detail: 'a tenant-scoped caller can only create clients in its own tenant' });
  }
  const spec: ClientSpec = {
    name: parsed.name,
    description: parsed.description ?? null,
    first_party: parsed.first_party,
    status: 'active',
    application_type: parsed.application_type,
    token_endpoint_auth_method: parsed.token_endpoint_auth_method,
    grant_types: parsed.grant_types,
    redirect_uris: parsed.redirect_uris,
    post_logout_redirect_uris: parsed.post_logout_redirect_uris,
    backchannel_logout_uri: parsed.backchannel_logout_uri ?? null,
    allowed_resources: parsed.allowed_resources,
    allowed_scopes: parsed.allowed_scopes ?? (parsed.grant_types.includes('authorization_code') ? ['openid'] : []),
    access_token_format: parsed.access_token_format,
    require_dpop: parsed.require_dpop,
    jwks_uri: parsed.jwks_uri ?? null,
    jwks: parsed.jwks ?? null,
  };
  assertSpec(spec);
  const clientId = parsed.client_id ?? generateClientId();

  return db.transaction(async (trx) => {
    if (tenantId !== null) {
      const tenant = (await trx('tenants').where({ id: tenantId }).first('status')) as { status: string } | undefined;
      if (!tenant || tenant.status === 'deleted')
        throw validationError([{ name: 'tenant_id', reason: `tenant ${tenantId} does not exist` }]);
    }
    let inserted: { id: string };
    try {
      [inserted] = (await trx('oauth_clients')
        .insert({ client_id: clientId, tenant_id: tenantId, created_by: createdBy(actor), ...specColumns(spec, {}) })
        .returning('id')) as [{ id: string }];
    } catch (err) {
      if (isUniqueViolation(err, 'oauth_clients_client_id_key')) {
        throw new AppError('conflict', { detail: `client_id ${clientId} is already registered` });
      }
      throw err;
    }
    const secret = usesSecret(spec.token_endpoint_auth_method) ? await insertSecret(trx, inserted.id, actor) : undefined;
    const client = toRecord((await selectClientRows(trx).where('c.id', inserted.id).first()) as ClientRow);
    await recordChange(
      trx,
      { event: 'created', client, actor, ctx },
      {
        grant_types: client.grant_types,
        token_endpoint_auth_method: client.token_endpoint_auth_method,
        first_party: client.first_party,
      },
    );
    return secret === undefined ? { client } : { client, secret };
  });
}

const UPDATABLE: (keyof ClientSpec)[] = [
  'name',
  'description',
  'first_party',
  'status',
  'application_type',
  'token_endpoint_auth_method',
  'grant_types',
  'redirect_uris',
  'post_logout_redirect_uris',
  'backchannel_logout_uri',
  'allowed_resources',
  'allowed_scopes',
  'access_token_format',
  'require_dpop',
  'jwks_uri',
  'jwks',
];

/**
 * Changes some members of a client; the result must satisfy every registration rule. With
 * `expected_version` the update applies only if nobody changed the client since that read
 * (precondition_failed otherwise). Moving to a secret-based auth method issues a secret (returned
 * once); moving away from one revokes the client's secrets.
 */
export async function updateClient(
  db: Knex,
  clientId: string,
  patch: UpdateClientInput,
  actor: ClientActor,
  ctx: ChangeContext = {},
): Promise<UpdatedClient> {
  const { expected_version: expectedVersion, ...changes } = parseInput(updateClientInput, patch);
  return db.transaction(async (trx) => {
    const row = await lockClient(trx, clientId, ctx);
    if (expectedVersion !== undefined && expectedVersion !== row.version) {
      throw new AppError('precondition_failed', {
        detail: `client ${clientId} changed since version ${expectedVersion} (now ${row.version}); read it again`,
      });
    }
    const current = toRecord(row);
    const before = toSpec(current);
    const after: ClientSpec = { ...before };
    for (const key of UPDATABLE) {
      const value = (changes as Partial<Record<keyof ClientSpec, unknown>>)[key];
      if (value !== undefined) (after as unknown as Record<string, unknown>)[key] = value;
    }
    const changed = UPDATABLE.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    if (changed.length === 0) return { client: current, changed };
    assertSpec(after);

    const columns: Record<string, unknown> = specColumns(after, row.metadata ?? {});
    if (changed.includes('status')) columns.disabled_at = after.status === 'disabled' ? trx.fn.now() : null;
    await trx('oauth_clients').where({ id: row.id }).update(columns);

    let secret: string | undefined;
    const hadSecret = usesSecret(before.token_endpoint_auth_method);
    const needsSecret = usesSecret(after.token_endpoint_auth_method);
    if (needsSecret && !hadSecret) secret = await insertSecret(trx, row.id, actor);
    if (hadSecret && !needsSecret) {
      await trx('client_secrets').where({ client_id: row.id }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    }

    const client = toRecord((await selectClientRows(trx).where('c.id', row.id).first()) as ClientRow);
    await recordChange(trx, { event: 'updated', client, actor, ctx }, { changed, secret_issued: secret !== undefined }, { changed });
    return secret === undefined ? { client, changed } : { client, changed, secret };
  });
}

/**
 * Issues a new secret. Every secret valid before stays valid for `overlapSeconds` (default 24 h,
 * so deployments can roll the new one out), or stops working at once with 0.
 */
export async function rotateClientSecret(
  db: Knex,
  clientId: string,
  opts: RotateSecretInput,
  actor: ClientActor,
  ctx: ChangeContext = {},
): Promise<RotatedSecret> {
  const { overlapSeconds } = parseInput(rotateSecretInput, opts, 'invalid rotation');
  return db.transaction(async (trx) => {
    const row = await lockClient(trx, clientId, ctx);
    if (!usesSecret(row.token_endpoint_auth_method)) {
      throw validationError(
        [{ name: 'client_id', reason: `client ${clientId} authenticates with ${row.token_endpoint_auth_method}, not a client secret` }],
        'cannot rotate',
      );
    }
    const valid = trx('client_secrets')
      .where({ client_id: row.id })
      .whereNull('revoked_at')
      .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', trx.fn.now()));
    const previous = (await (overlapSeconds === 0
      ? valid.update({ revoked_at: trx.fn.now() })
      : valid.update({
          expires_at: trx.raw(`least(coalesce(expires_at, 'infinity'::timestamptz), now() + make_interval(secs => ?))`, [overlapSeconds]),
        })
    ).returning(['id', 'hint', 'expires_at', 'revoked_at'])) as {
      id: string;
      hint: string | null;
      expires_at: Date | null;
      revoked_at: Date | null;
    }[];
    const secret = await insertSecret(trx, row.id, actor);
    const client = toRecord(row);
    await recordChange(
      trx,
      { event: 'secret_rotated', client, actor, ctx },
      { overlap_seconds: overlapSeconds, previous_secrets: previous.length },
    );
    return {
      client_id: client.client_id,
      secret,
      hint: secretHint(secret),
      overlap_seconds: overlapSeconds,
      previous_secrets: previous.map((p) => ({
        id: p.id,
        hint: p.hint,
        expires_at: p.expires_at?.toISOString() ?? null,
        revoked_at: p.revoked_at?.toISOString() ?? null,
      })),
    };
  });
}

/** Deletes a client and its secrets; tokens it holds stop working with its next lookup. */
export async function deleteClient(
  db: Knex,
  clientId: string,
  actor: ClientActor,
  ctx: ChangeContext = {},
): Promise<{ client_id: string }> {
  return db.transaction(async (trx) => {
    const row = await lockClient(trx, clientId, ctx);
    await trx('oauth_clients').where({ id: row.id }).delete();
    await recordChange(trx, { event: 'deleted', client: toRecord(row), actor, ctx }, { name: row.name });
    return { client_id: row.client_id };
  });
}

export interface ListClientsOptions {
  /** A tenant's clients; null = platform clients only; undefined = all. */
  tenantId?: string | null;
  /** Page size (default 100, at most 1000). */
  limit?: number;
  /** Keyset cursor: the last client_id of the previous page. */
  after?: string;
}

/** Clients ordered by client_id (byte order). */
export async function listClients(db: Knex, opts: ListClientsOptions = {}): Promise<ClientRecord[]> {
  const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 100), 1), 1000);
  // Byte order ("C"): the same in every database whatever its collation, so cursors are portable.
  const q = selectClientRows(db).orderByRaw('c.client_id collate "C"').limit(limit);
  if (opts.tenantId === null) q.whereNull('c.tenant_id');
  else if (opts.tenantId !== undefined) {
    if (!UUID.test(opts.tenantId)) return [];
    q.where('c.tenant_id', opts.tenantId);
  }
  if (opts.after !== undefined) q.whereRaw('c.client_id collate "C" > ?', [opts.after]);
  return ((await q) as ClientRow[]).map(toRecord);
}

/** One client with its secret summaries (never the secrets); not_found when absent or out of scope. */
export async function getClient(db: Knex, clientId: string, opts: { tenantId?: string } = {}): Promise<ClientDetails> {
  const row = CLIENT_ID_PATTERN.test(clientId)
    ? ((await selectClientRows(db).where('c.client_id', clientId).first()) as ClientRow | undefined)
    : undefined;
  if (!row || (opts.tenantId !== undefined && row.tenant_id !== opts.tenantId)) {
    throw new AppError('not_found', { detail: `client ${clientId} not found` });
  }
  return { ...toRecord(row), secrets: await secretSummaries(db, row.id) };
}
