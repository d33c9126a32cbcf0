import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  ACCESS_TOKEN_FORMATS,
  APPLICATION_TYPES,
  AUTH_METHODS,
  type ClientActor,
  type ClientRecord,
  type CreateClientInput,
  createClient,
  deleteClient,
  GRANT_TYPES,
  getClient,
  listClients,
  rotateClientSecret,
  type UpdateClientInput,
  updateClient,
} from '../../clients/index.ts';
import type { Knex } from '../../db/knex.ts';
import { CliExit, type RunCommand } from '../runtime.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Comma-separated, repeatable: `--redirect-uris a,b --redirect-uris c`; `''` gives an empty list (clears). */
const list = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** `0`, `3600`, `90s`, `30m`, `24h`, `7d` → seconds. */
export function parseDuration(value: string, option: string): number {
  const m = /^(\d{1,9})\s*(s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new CliExit(`${option}: "${value}" is not a duration (e.g. 0, 90s, 30m, 24h, 7d)`, 2);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

function cliActor(): ClientActor {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the audit event still says it came from the CLI.
  }
  return { type: 'system', id: `cli:${user}` };
}

/** `--tenant` takes a tenant id or slug. */
async function resolveTenant(db: Knex, ref: string): Promise<string> {
  const row = (await db('tenants')
    .where(UUID.test(ref) ? { id: ref } : { slug: ref.toLowerCase() })
    .first('id', 'status')) as { id: string; status: string } | undefined;
  if (!row || row.status === 'deleted') throw new CliExit(`--tenant: no tenant with id or slug "${ref}"`, 2);
  return row.id;
}

async function readJwks(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(resolve(file), 'utf8'));
  } catch (err) {
    throw new CliExit(`--jwks-file: cannot read a JSON key set from ${file}: ${(err as Error).message}`, 2);
  }
}

/** Columns an operator scans in a terminal; --json carries every member. */
function clientRow(c: ClientRecord) {
  return {
    client_id: c.client_id,
    name: c.name,
    tenant_id: c.tenant_id ?? '(platform)',
    status: c.status,
    auth: c.token_endpoint_auth_method,
    grants: c.grant_types.join(','),
    first_party: c.first_party ? 'yes' : 'no',
    token: c.access_token_format,
  };
}

const wantsJson = (cmd: Command) => Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);
const SECRET_NOTE = 'the client secret is shown only now: store it in a secret manager';

interface SharedOptions {
  description?: string;
  grantTypes?: string[];
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string;
  applicationType?: string;
  tokenEndpointAuthMethod?: string;
  resources?: string[];
  scopes?: string[];
  accessTokenFormat?: string;
  jwksUri?: string;
  jwksFile?: string;
}

function withSharedOptions(cmd: Command, creating: boolean): Command {
  const clears = creating ? '' : ' (empty string clears)';
  return cmd
    .option('--description <text>', `free-text description${clears}`)
    .option(
      '--grant-types <list>',
      `comma-separated: ${GRANT_TYPES.join(', ')}${creating ? ' (default authorization_code,refresh_token)' : ''}`,
      list,
    )
    .option('--redirect-uris <list>', 'comma-separated exact redirect URIs (https, or http on a loopback host)', list)
    .option('--post-logout-redirect-uris <list>', 'comma-separated exact post-logout redirect URIs', list)
    .option('--backchannel-logout-uri <uri>', `OIDC back-channel logout endpoint${clears}`)
    .option('--application-type <type>', `${APPLICATION_TYPES.join(' | ')}`)
    .option('--token-endpoint-auth-method <method>', `${AUTH_METHODS.join(' | ')}${creating ? ' (default client_secret_basic)' : ''}`)
    .option('--resources <list>', 'comma-separated resource indicators (audiences) the client may request', list)
    .option('--scopes <list>', 'comma-separated scopes the client may request', list)
    .option('--access-token-format <format>', `${ACCESS_TOKEN_FORMATS.join(' | ')}`)
    .option('--jwks-uri <uri>', `client key set URL, for private_key_jwt${clears}`)
    .option('--jwks-file <file>', 'client public key set (JSON), for private_key_jwt');
}

async function sharedInput(o: SharedOptions, creating: boolean): Promise<Record<string, unknown>> {
  const orNull = (v: string | undefined) => (v === undefined ? undefined : v === '' && !creating ? null : v);
  const input: Record<string, unknown> = {
    description: orNull(o.description),
    grant_types: o.grantTypes,
    redirect_uris: o.redirectUris,
    post_logout_redirect_uris: o.postLogoutRedirectUris,
    backchannel_logout_uri: orNull(o.backchannelLogoutUri),
    application_type: o.applicationType,
    token_endpoint_auth_method: o.tokenEndpointAuthMethod,
    allowed_resources: o.resources,
    allowed_scopes: o.scopes,
    access_token_format: o.accessTokenFormat,
    jwks_uri: orNull(o.jwksUri),
    jwks: o.jwksFile === undefined ? undefined : await readJwks(o.jwksFile),
  };
  for (const k of Object.keys(input)) if (input[k] === undefined) delete input[k];
  return input;
}

export function registerClientsCommands(program: Command, run: RunCommand): void {
  const clients = program.command('clients').description('OAuth/OIDC clients: create, list, show, update, rotate-secret, delete');

  withSharedOptions(
    clients
      .command('create')
      .description('register a client; a confidential client gets a secret, printed once')
      .requiredOption('--name <name>', 'display name')
      .option('--client-id <id>', 'client_id to use (default: generated)')
      .option('--tenant <id|slug>', 'owning tenant (default: a platform client)')
      .option('--first-party', 'first-party application (consent may be skipped)')
      .option('--require-dpop', 'access tokens must be DPoP-bound'),
    true,
  ).action(
    (
      opts: SharedOptions & { name: string; clientId?: string; tenant?: string; firstParty?: boolean; requireDpop?: boolean },
      cmd: Command,
    ) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const input = {
          ...(await sharedInput(opts, true)),
          name: opts.name,
          ...(opts.clientId !== undefined ? { client_id: opts.clientId } : {}),
          ...(opts.tenant !== undefined ? { tenant_id: await resolveTenant(db, opts.tenant) } : {}),
          first_party: Boolean(opts.firstParty),
          require_dpop: Boolean(opts.requireDpop),
        } as CreateClientInput;
        const { client, secret } = await createClient(db, input, cliActor());
        if (secret === undefined) return client;
        return wantsJson(cmd) ? { ...client, client_secret: secret } : { ...client, client_secret: secret, note: SECRET_NOTE };
      }),
  );

  clients
    .command('list')
    .description('list clients (ordered by client_id)')
    .option('--tenant <id|slug>', "only this tenant's clients")
    .option('--platform', 'only platform clients (no tenant)')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--after <client_id>', 'start after this client_id (paging)')
    .action((opts: { tenant?: string; platform?: boolean; limit?: string; after?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        if (opts.tenant !== undefined && opts.platform) throw new CliExit('--tenant and --platform exclude each other', 2);
        const limit = opts.limit === undefined ? 1000 : Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
          throw new CliExit(`--limit: "${opts.limit}" is not an integer from 1 to 1000`, 2);
        const db = await rt.db();
        const tenantId = opts.platform ? null : opts.tenant !== undefined ? await resolveTenant(db, opts.tenant) : undefined;
        const all = await listClients(db, { tenantId, limit, after: opts.after });
        return wantsJson(cmd) ? all : all.map(clientRow);
      }),
    );

  clients
    .command('show')
    .description('show a client and the state of its secrets (never the secrets)')
    .argument('<client_id>')
    .action((clientId: string, _opts: unknown, cmd: Command) => run(cmd, async (rt) => getClient(await rt.db(), clientId)));

  withSharedOptions(
    clients
      .command('update')
      .description('change members of a client (only those given)')
      .argument('<client_id>')
      .option('--name <name>', 'display name')
      .option('--first-party', 'mark as first-party')
      .option('--no-first-party', 'mark as third-party')
      .option('--require-dpop', 'access tokens must be DPoP-bound')
      .option('--no-require-dpop', 'DPoP binding optional')
      .option('--disable', 'disable the client (it stops working at once on every instance)')
      .option('--enable', 'enable a disabled client')
      .option('--if-version <version>', 'apply only if the client is still at this version (from show/list --json)'),
    false,
  ).action(
    (
      clientId: string,
      opts: SharedOptions & {
        name?: string;
        firstParty?: boolean;
        requireDpop?: boolean;
        disable?: boolean;
        enable?: boolean;
        ifVersion?: string;
      },
      cmd: Command,
    ) =>
      run(cmd, async (rt) => {
        if (opts.disable && opts.enable) throw new CliExit('--disable and --enable exclude each other', 2);
        const patch = {
          ...(await sharedInput(opts, false)),
          ...(opts.name !== undefined ? { name: opts.name } : {}),
          ...(opts.firstParty !== undefined ? { first_party: opts.firstParty } : {}),
          ...(opts.requireDpop !== undefined ? { require_dpop: opts.requireDpop } : {}),
          ...(opts.disable ? { status: 'disabled' } : opts.enable ? { status: 'active' } : {}),
          ...(opts.ifVersion !== undefined ? { expected_version: opts.ifVersion } : {}),
        } as UpdateClientInput;
        if (Object.keys(patch).filter((k) => k !== 'expected_version').length === 0) {
          throw new CliExit('nothing to update: give at least one option (see iam clients update --help)', 2);
        }
        const { client, changed, secret } = await updateClient(await rt.db(), clientId, patch, cliActor());
        const out = { ...client, changed };
        if (secret === undefined) return out;
        return wantsJson(cmd) ? { ...out, client_secret: secret } : { ...out, client_secret: secret, note: SECRET_NOTE };
      }),
  );

  clients
    .command('rotate-secret')
    .description('issue a new client secret (printed once); previous secrets keep working for the overlap')
    .argument('<client_id>')
    .option('--overlap <duration>', 'how long previous secrets stay valid: 0 (revoke now), 90s, 30m, 24h, 7d; at most 30d', '24h')
    .action((clientId: string, opts: { overlap: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const overlapSeconds = parseDuration(opts.overlap, '--overlap');
        if (overlapSeconds > 30 * 86_400) throw new CliExit(`--overlap: at most 30d (got ${opts.overlap})`, 2);
        const r = await rotateClientSecret(await rt.db(), clientId, { overlapSeconds }, cliActor());
        const out = {
          client_id: r.client_id,
          client_secret: r.secret,
          hint: r.hint,
          overlap_seconds: r.overlap_seconds,
          previous_secrets: r.previous_secrets,
        };
        return wantsJson(cmd) ? out : { ...out, note: SECRET_NOTE };
      }),
    );

  clients
    .command('delete')
    .description('delete a client and its secrets')
    .argument('<client_id>')
    .action((clientId: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (rt) => ({ ...(await deleteClient(await rt.db(), clientId, cliActor())), deleted: true })),
    );
}
