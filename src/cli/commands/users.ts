import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { createAdapterFactory } from '../../../adapters/index.ts';
import {
  createPasswordServiceFromConfig,
  createUser,
  disableUser,
  enableUser,
  getUser,
  listUsers,
  type PasswordService,
  setUserPassword,
  type UserActor,
  type UserRecord,
} from '../../identity/index.ts';
import { MemoryStore } from '../../store/index.ts';
import { CliExit, type CliRuntime, type RunCommand } from '../runtime.ts';

function cliActor(): UserActor {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the audit event still says it came from the CLI.
  }
  return { type: 'system', id: `cli:${user}` };
}

/** Passwords come only from the environment, never from an argument (shell history, `ps`). */
function passwordFromEnv(variable: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new CliExit(`--password-env: "${variable}" is not an environment variable name`, 2);
  const value = process.env[variable];
  if (value === undefined || value === '') throw new CliExit(`--password-env: environment variable ${variable} is not set`, 2);
  return value;
}

/** The configured policy and hasher; the throttle is in-process (the CLI is not a sign-in path). */
function passwordService(rt: CliRuntime): Promise<PasswordService> {
  return createPasswordServiceFromConfig(rt.config, { store: new MemoryStore(), logger: rt.logger });
}

function userRow(u: UserRecord) {
  return {
    id: u.id,
    email: u.email,
    name: u.display_name,
    status: u.status,
    password: u.has_password ? 'yes' : 'no',
    created_at: u.created_at,
  };
}

const wantsJson = (cmd: Command) => Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);

export function registerUsersCommands(program: Command, run: RunCommand): void {
  const users = program.command('users').description('users: create, list, show, set-password, disable, enable');

  users
    .command('create')
    .description('create an active user (without --password-env the user has no password)')
    .requiredOption('--email <email>', 'email address (unique, case-insensitively)')
    .option('--password-env <VAR>', 'read the initial password from this environment variable')
    .option('--name <name>', 'display name')
    .action((opts: { email: string; passwordEnv?: string; name?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const password = opts.passwordEnv === undefined ? undefined : passwordFromEnv(opts.passwordEnv);
        const passwords = password === undefined ? undefined : await passwordService(rt);
        return createUser(await rt.db(), { email: opts.email, password, displayName: opts.name }, cliActor(), { passwords });
      }),
    );

  users
    .command('list')
    .description('list users (in creation order)')
    .option('--email <text>', 'only users whose email contains this (case-insensitive)')
    .option('--limit <n>', 'at most this many (default 100, at most 1000)')
    .option('--after <id>', 'start after this user id (paging)')
    .action((opts: { email?: string; limit?: string; after?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const limit = opts.limit === undefined ? 100 : Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
          throw new CliExit(`--limit: "${opts.limit}" is not an integer from 1 to 1000`, 2);
        const all = await listUsers(await rt.db(), { limit, after: opts.after, email: opts.email });
        return wantsJson(cmd) ? all : all.map(userRow);
      }),
    );

  users
    .command('show')
    .description('show a user (never a credential)')
    .argument('<id|email>')
    .action((ref: string, _opts: unknown, cmd: Command) => run(cmd, async (rt) => getUser(await rt.db(), ref)));

  users
    .command('set-password')
    .description("reset a user's password (password policy applies; clears the lockout)")
    .argument('<id|email>')
    .requiredOption('--password-env <VAR>', 'read the new password from this environment variable')
    .option('--must-change', 'the user must change it at next sign-in')
    .action((ref: string, opts: { passwordEnv: string; mustChange?: boolean }, cmd: Command) =>
      run(cmd, async (rt) => {
        const password = passwordFromEnv(opts.passwordEnv);
        return setUserPassword(await rt.db(), await passwordService(rt), ref, password, cliActor(), { mustChange: opts.mustChange });
      }),
    );

  users
    .command('disable')
    .description(
      'disable a user and end all their sessions and grants (refresh tokens deleted, JWT access tokens denied; ' +
        'opaque access tokens are removed from Redis when redis.url is set, else expire within their TTL)',
    )
    .argument('<id|email>')
    .requiredOption('--reason <text>', 'why (recorded in the audit log)')
    .action((ref: string, opts: { reason: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const db = await rt.db();
        const oidc = rt.config.oidc;
        // Short-lived engine items (opaque access tokens, codes) live in Redis when it is configured;
        // the in-process memory store of a running single instance is out of the CLI's reach.
        const factory = rt.config.redis.url
          ? createAdapterFactory({ db, redisUrl: rt.config.redis.url, keyPrefix: rt.config.redis.key_prefix, logger: rt.logger })
          : undefined;
        try {
          // Redis unreachable: PostgreSQL is still swept; its short-lived tokens expire within their TTL.
          const storage = factory
            ? await factory.ready(5_000).then(
                () => factory,
                (err: unknown) => {
                  rt.logger.warn({ err }, 'redis unreachable: opaque access tokens of the user expire within their TTL');
                  return undefined;
                },
              )
            : undefined;
          return await disableUser(db, storage, ref, cliActor(), opts.reason, {
            maxAccessTokenTtlS: Math.max(oidc.access_token_ttl_s, oidc.client_credentials_ttl_s),
            logger: rt.logger,
          });
        } finally {
          await factory?.close();
        }
      }),
    );

  users
    .command('enable')
    .description('enable a disabled user (sign-in works again; ended sessions stay ended)')
    .argument('<id|email>')
    .action((ref: string, _opts: unknown, cmd: Command) => run(cmd, async (rt) => enableUser(await rt.db(), ref, cliActor())));
}
