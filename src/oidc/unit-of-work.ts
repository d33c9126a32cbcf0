import type { Context, Middleware } from 'koa';
import { runInUnitOfWork, UnitOfWork, type UnitWrite } from '../../adapters/unit-of-work.ts';
import type { Knex } from '../db/knex.ts';
import type { Logger } from '../observability/logger.ts';

/**
 * The resume request — the browser coming back to `<authorization>/:uid` after sign-in — as one
 * PostgreSQL transaction (DESIGN §7, ADR-0015). It is where a completed login becomes a session:
 * the engine saves the Session (and, for a first-party client, the Grant, src/oidc/grants.ts), and
 * IAM's rows of the sign-in (`SignInWrites`) join them. The PostgreSQL adapter queues those writes
 * while the engine runs; they are committed after the engine is done and before Koa sends the
 * response, so the client never holds a code whose session or grant is not stored yet. Should the
 * commit fail, the response becomes a 503 page and nothing of the request is kept: the browser's
 * cookies stay as they were (no new session cookie naming a session that does not exist).
 */

/** IAM's writes of the sign-in an interaction completed, claimed for the resume's transaction. */
export interface ClaimedWrites {
  db: Knex;
  write: UnitWrite;
  /** Gives them back (the transaction failed): they are written later instead, never lost. */
  restore(): Promise<void>;
}

export interface ResumeUnitOfWorkOptions {
  /** The engine's authorization route (`/authorize`); resume is `<route>/:uid`, as the engine sees the path. */
  authorizationRoute: string;
  /** Claims the writes IAM left for the resume of this interaction, if any (see interactions/sign-in-writes.ts). */
  claimSignInWrites?: (interactionUid: string) => Promise<ClaimedWrites | undefined>;
  /** Renders the failure page; the middleware sets 503 and `Retry-After` afterwards. */
  renderFailure(ctx: Context): void;
  logger: Logger;
}

interface ResumedCtx {
  oidc?: { result?: { login?: { accountId?: unknown } } };
}

/**
 * Whether the engine resumed the interaction with a login result — the resume cookie matched the
 * path's interaction and it was consumed — rather than merely being asked to. Read after the
 * engine ran: a later prompt (tenant, consent) may have started a new interaction by then.
 */
function resumedLogin(ctx: Context): boolean {
  try {
    return typeof (ctx as unknown as ResumedCtx).oidc?.result?.login?.accountId === 'string';
  } catch {
    return false;
  }
}

export function resumeUnitOfWork(opts: ResumeUnitOfWorkOptions): Middleware {
  const prefix = `${opts.authorizationRoute}/`;

  return async (ctx, next) => {
    const uid = ctx.path.startsWith(prefix) ? ctx.path.slice(prefix.length) : '';
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || !uid || uid.includes('/')) return next();

    const unit = new UnitOfWork();
    try {
      await runInUnitOfWork(unit, () => next());
    } catch (err) {
      // The engine answers its own errors; anything escaping it is a failed request: nothing is kept.
      unit.discard();
      throw err;
    }

    let claimed: ClaimedWrites | undefined;
    if (opts.claimSignInWrites && resumedLogin(ctx)) {
      // Unclaimed (the store failed), they stay where they are and are written later instead.
      claimed = await opts.claimSignInWrites(uid).catch((err: unknown) => {
        opts.logger.warn({ err, interaction: uid }, 'resume: sign-in writes not claimed; left for the sweep');
        return undefined;
      });
    }
    if (claimed) unit.join(claimed.db, claimed.write);
    try {
      await unit.flush();
    } catch (err) {
      opts.logger.error({ err, interaction: uid }, 'resume: writing the session failed; answered 503');
      if (claimed) await claimed.restore().catch((e: unknown) => opts.logger.error({ err: e }, 'resume: sign-in writes could not be kept'));
      ctx.remove('Location');
      ctx.remove('Set-Cookie');
      opts.renderFailure(ctx);
      ctx.status = 503;
      ctx.set('Retry-After', '30');
    }
  };
}
