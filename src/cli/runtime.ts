import type { Command } from 'commander';
import { type Config, type LoadedConfig, loadConfig } from '../config/index.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { createDb, type Knex } from '../db/knex.ts';
import { AppError, ConfigError } from '../errors/index.ts';
import { resolveKek } from '../keys/index.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { formatHuman } from './output.ts';

export interface CliRuntime {
  loaded: LoadedConfig;
  config: Config;
  logger: Logger;
  /** Opened on first use: commands that need no database never start one. */
  db(): Promise<Knex>;
  kek(): Promise<Buffer>;
}

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export type CommandResult = unknown;
export type RunCommand = (cmd: Command, fn: (rt: CliRuntime) => Promise<CommandResult>) => Promise<void>;

/** Exit codes: 0 ok, 1 failure, 2 usage, 78 configuration. */
export class CliExit extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * Runs one subcommand against the configured database — the embedded one too, whether or not
 * the server is running (it is started for the command and stopped after, if nobody else had it
 * running). With --json, stdout carries exactly one JSON document; logs always go to stderr.
 */
export const runCommand: RunCommand = async (cmd, fn) => {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const closers: (() => Promise<void>)[] = [];
  let logger: Logger | undefined;
  try {
    const loaded = loadConfig({ file: opts.config });
    logger = createLogger({ level: loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level, destination: process.stderr });
    const log = logger;
    let db: Promise<Knex> | undefined;
    let kek: Promise<Buffer> | undefined;
    const rt: CliRuntime = {
      loaded,
      config: loaded.config,
      logger: log,
      db: () => {
        const opened =
          db ??
          (async () => {
            let url = loaded.config.database.url;
            if (!url) {
              const embedded = await startEmbeddedPostgres({
                dataDir: loaded.config.data_dir,
                port: loaded.config.database.embedded_port,
                logger: log,
              });
              closers.push(() => embedded.stop());
              url = embedded.url;
            }
            const knex = createDb({ url, poolMin: 0, poolMax: 4, statementTimeoutMs: 0, applicationName: 'iam-cli' });
            closers.unshift(() => knex.destroy());
            return knex;
          })();
        db = opened;
        return opened;
      },
      kek: () => {
        const resolved = kek ?? resolveKek(loaded.config, log);
        kek = resolved;
        return resolved;
      },
    };
    const result = await fn(rt);
    process.stdout.write(`${opts.json ? JSON.stringify(result, null, 2) : formatHuman(result)}\n`);
  } catch (err) {
    const exitCode = err instanceof CliExit ? err.exitCode : err instanceof ConfigError ? 78 : 1;
    const code = err instanceof AppError ? err.code : err instanceof ConfigError ? 'config_invalid' : 'failed';
    const message = err instanceof AppError ? (err.detail ?? err.message) : (err as Error).message;
    if (opts.json) process.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
    else process.stderr.write(`iam: ${message}\n`);
    if (!(err instanceof AppError || err instanceof ConfigError || err instanceof CliExit)) logger?.debug({ err }, 'command failed');
    process.exitCode = exitCode;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
  }
};
