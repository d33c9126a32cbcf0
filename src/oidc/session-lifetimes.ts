/**
 * Idle and absolute lifetimes of the browser session (ADR-0019; ASVS 7.3.1, 7.3.2).
 *
 * The engine saves the Session on every request that uses it, asking `ttl.Session` for its
 * lifetime each time. That lifetime is the idle one, capped by what is left of the absolute one
 * counted from the sign-in (`loginTs`): so each use slides the expiry, no use extends the session
 * past its absolute end, and an unused session simply expires in storage (the engine then finds
 * none and signs the user in again). The save also stamps `iat` with the time of that use, which
 * is how a client of a stricter tenant sees how long the session has been idle.
 */

export interface SessionLifetimes {
  /** Seconds a session may go unused. */
  idleSeconds: number;
  /** Seconds from sign-in after which the session ends whatever its use. */
  absoluteSeconds: number;
}

/** What a tenant may set (`tenants.settings.session`): the same bounds as the configuration. */
export const LIFETIME_BOUNDS = {
  idleSeconds: { min: 60, max: 365 * 86_400 },
  absoluteSeconds: { min: 300, max: 365 * 86_400 },
} as const;

const within = (v: unknown, b: { min: number; max: number }): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v >= b.min && v <= b.max ? v : undefined;

/**
 * `settings.session.{idleSeconds,absoluteSeconds}` of a tenant: the members within bounds (the
 * admin API validates what it stores; anything else keeps the deployment's value).
 */
export function parseSessionOverrides(settings: unknown): Partial<SessionLifetimes> {
  const session = (settings && typeof settings === 'object' ? (settings as { session?: unknown }).session : undefined) as
    | { idleSeconds?: unknown; absoluteSeconds?: unknown }
    | undefined;
  if (!session || typeof session !== 'object') return {};
  const idle = within(session.idleSeconds, LIFETIME_BOUNDS.idleSeconds);
  const absolute = within(session.absoluteSeconds, LIFETIME_BOUNDS.absoluteSeconds);
  return { ...(idle !== undefined ? { idleSeconds: idle } : {}), ...(absolute !== undefined ? { absoluteSeconds: absolute } : {}) };
}

/** The deployment's lifetimes with a tenant's overrides applied. */
export function withOverrides(defaults: SessionLifetimes, overrides: Partial<SessionLifetimes> | undefined): SessionLifetimes {
  return {
    idleSeconds: overrides?.idleSeconds ?? defaults.idleSeconds,
    absoluteSeconds: overrides?.absoluteSeconds ?? defaults.absoluteSeconds,
  };
}

/** The stored lifetime of a session saved at `now`: the idle lifetime, never past the absolute end. At least 1 s. */
export function sessionTtl(lifetimes: SessionLifetimes, loginTs: number | undefined, now: number): number {
  if (typeof loginTs !== 'number') return lifetimes.idleSeconds;
  const left = loginTs + lifetimes.absoluteSeconds - now;
  return Math.max(1, Math.min(lifetimes.idleSeconds, left));
}

/** Why a signed-in session may not be used any more under `lifetimes` (undefined: it may). */
export function sessionEnded(
  lifetimes: SessionLifetimes,
  session: { loginTs?: number; iat?: number },
  now: number,
): 'absolute' | 'idle' | undefined {
  if (typeof session.loginTs === 'number' && now - session.loginTs >= lifetimes.absoluteSeconds) return 'absolute';
  if (typeof session.iat === 'number' && now - session.iat >= lifetimes.idleSeconds) return 'idle';
  return undefined;
}

/**
 * The lifetimes a request applies, remembered per request context: the login checks (which know
 * the client and so its tenant) record them, and the engine's synchronous `ttl.Session` reads them
 * when it saves the session at the end of the request. Requests that ran no check (logout) use the
 * deployment's defaults.
 */
export class RequestLifetimes {
  readonly #byRequest = new WeakMap<object, SessionLifetimes>();
  readonly defaults: SessionLifetimes;

  constructor(defaults: SessionLifetimes) {
    this.defaults = Object.freeze({ ...defaults });
  }

  remember(ctx: object, lifetimes: SessionLifetimes): void {
    this.#byRequest.set(ctx, lifetimes);
  }

  of(ctx: object | undefined): SessionLifetimes {
    return (ctx && this.#byRequest.get(ctx)) || this.defaults;
  }

  /** The engine's `ttl.Session`: stamps the use (`iat`) and answers the sliding, capped lifetime. */
  ttl(ctx: object | undefined, session: { loginTs?: number; iat?: number }): number {
    const now = Math.floor(Date.now() / 1000);
    // Every save is a use of the session: `iat` becomes the time of the last one.
    session.iat = now;
    return sessionTtl(this.of(ctx), session.loginTs, now);
  }
}
