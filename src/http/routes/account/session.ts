import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { KeyValueStore } from '../../../store/types.ts';

/**
 * The account pages' own session (ADR-0018): a random 256-bit handle in an HttpOnly, SameSite=Lax
 * cookie (`__Host-` prefixed and Secure wherever the issuer is https), signed with a key derived
 * from the cookie keys so a forged value never reaches the store; the record lives in the shared
 * store under sha256(handle), with an idle TTL that slides and an absolute end. A sign-in always
 * starts a new handle (no fixation). The pending sign-in (PKCE verifier, nonce, where to return)
 * is kept the same way, bound to the browser by a second short cookie carrying the `state`.
 */
export interface AccountSessionRecord {
  userId: string;
  /** The engine session this one rests on (its uid): ended there, ended here. */
  sessionUid: string;
  /** `auth_time` of the sign-in, epoch seconds. */
  authTime: number;
  amr: string[];
  acr?: string;
  /** Epoch seconds. */
  createdAt: number;
  /** Absolute end, epoch seconds. */
  expiresAt: number;
}

export interface PendingSignIn {
  verifier: string;
  nonce: string;
  /** The account section to show afterwards. */
  next: string;
}

const HANDLE = /^[A-Za-z0-9_-]{43}$/;
const PENDING_TTL_MS = 15 * 60_000;
const sha256 = (v: string) => createHash('sha256').update(v).digest('base64url');
export const accountSessionKey = (handle: string): string => `account:session:${sha256(handle)}`;
const pendingKey = (state: string) => `account:pending:${sha256(state)}`;
const now = () => Math.floor(Date.now() / 1000);

export interface AccountSessions {
  readonly cookieName: string;
  create(ctx: Context, record: Omit<AccountSessionRecord, 'createdAt' | 'expiresAt'>): Promise<string>;
  /** The browser's session, if its cookie is genuine and the record is alive. */
  load(ctx: Context): Promise<{ handle: string; record: AccountSessionRecord } | undefined>;
  /** Slides the idle expiry (never past the absolute end). */
  touch(handle: string, record: AccountSessionRecord): Promise<void>;
  destroy(ctx: Context, handle: string | undefined): Promise<void>;
  beginSignIn(ctx: Context, pending: PendingSignIn): Promise<string>;
  /** The pending sign-in for `state`, once, and only in the browser that began it. */
  takeSignIn(ctx: Context, state: string): Promise<PendingSignIn | undefined>;
}

export function createAccountSessions(opts: {
  store: KeyValueStore;
  cookieKeys: readonly string[];
  secure: boolean;
  idleS: number;
  maxS: number;
}): AccountSessions {
  if (opts.cookieKeys.length === 0) throw new TypeError('at least one cookie key is required');
  const keys = opts.cookieKeys.map((k) => Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'iam/account-session/v1', 32)));
  const sign = (key: Buffer, handle: string) => createHmac('sha256', key).update(`account-session\0${handle}`).digest('base64url');
  const prefix = opts.secure ? '__Host-' : '';
  const cookieName = `${prefix}iam-account`;
  const pendingCookie = `${prefix}iam-account-signin`;
  const attributes = `Path=/; HttpOnly; SameSite=Lax${opts.secure ? '; Secure' : ''}`;
  const setCookie = (ctx: Context, name: string, value: string, maxAge: number) =>
    ctx.append('Set-Cookie', `${name}=${value}; ${attributes}; Max-Age=${maxAge}`);

  function handleOf(ctx: Context): string | undefined {
    const raw = ctx.cookies.get(cookieName, { signed: false }) ?? '';
    const [handle = '', mac = ''] = raw.split('.');
    if (!HANDLE.test(handle) || !/^[A-Za-z0-9_-]{43}$/.test(mac)) return undefined;
    const given = Buffer.from(mac, 'base64url');
    let ok = false;
    for (const key of keys) ok = timingSafeEqual(Buffer.from(sign(key, handle), 'base64url'), given) || ok;
    return ok ? handle : undefined;
  }

  const ttlMs = (r: AccountSessionRecord) => Math.max(1, Math.min(opts.idleS, r.expiresAt - now())) * 1000;

  return {
    cookieName,
    async create(ctx, fields) {
      const handle = randomBytes(32).toString('base64url');
      const record: AccountSessionRecord = { ...fields, createdAt: now(), expiresAt: now() + opts.maxS };
      await opts.store.set(accountSessionKey(handle), JSON.stringify(record), ttlMs(record));
      setCookie(ctx, cookieName, `${handle}.${sign(keys[0] as Buffer, handle)}`, opts.maxS);
      return handle;
    },
    async load(ctx) {
      const handle = handleOf(ctx);
      if (!handle) return undefined;
      const raw = await opts.store.get(accountSessionKey(handle));
      if (raw === null) return undefined;
      let record: AccountSessionRecord;
      try {
        record = JSON.parse(raw) as AccountSessionRecord;
      } catch {
        return undefined;
      }
      if (typeof record.userId !== 'string' || typeof record.expiresAt !== 'number' || record.expiresAt <= now()) return undefined;
      return { handle, record };
    },
    async touch(handle, record) {
      await opts.store.set(accountSessionKey(handle), JSON.stringify(record), ttlMs(record));
    },
    async destroy(ctx, handle) {
      if (handle) await opts.store.del(accountSessionKey(handle));
      setCookie(ctx, cookieName, '', 0);
    },
    async beginSignIn(ctx, pending) {
      const state = randomBytes(32).toString('base64url');
      await opts.store.set(pendingKey(state), JSON.stringify(pending), PENDING_TTL_MS);
      setCookie(ctx, pendingCookie, state, PENDING_TTL_MS / 1000);
      return state;
    },
    async takeSignIn(ctx, state) {
      const bound = ctx.cookies.get(pendingCookie, { signed: false }) ?? '';
      setCookie(ctx, pendingCookie, '', 0);
      if (!HANDLE.test(state) || bound.length !== state.length || !timingSafeEqual(Buffer.from(bound), Buffer.from(state)))
        return undefined;
      const raw = await opts.store.getDel(pendingKey(state));
      if (raw === null) return undefined;
      try {
        return JSON.parse(raw) as PendingSignIn;
      } catch {
        return undefined;
      }
    },
  };
}
