import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * CSRF protection of the interaction forms: a synchronizer token bound to the interaction,
 * HMAC-SHA256(k, uid) with k derived from the cookie keys (HKDF, own label). The uid itself is
 * random and travels in the signed, HttpOnly interaction cookie, so a page on another site can
 * neither read the token nor compute it; a token of one interaction is useless for another. Keys
 * rotate like the cookie keys: the first one issues, all of them verify.
 */
export interface CsrfTokens {
  issue(uid: string): string;
  verify(uid: string, presented: unknown): boolean;
}

export function createCsrfTokens(cookieKeys: readonly string[]): CsrfTokens {
  if (cookieKeys.length === 0) throw new TypeError('at least one cookie key is required');
  const keys = cookieKeys.map((k) => Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'iam/interaction-csrf/v1', 32)));
  const mac = (key: Buffer, uid: string) => createHmac('sha256', key).update(`interaction\0${uid}`).digest();
  return {
    issue: (uid) => mac(keys[0] as Buffer, uid).toString('base64url'),
    verify(uid, presented) {
      if (typeof presented !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(presented)) return false;
      const given = Buffer.from(presented, 'base64url');
      let ok = false;
      for (const key of keys) ok = timingSafeEqual(mac(key, uid), given) || ok;
      return ok;
    },
  };
}
