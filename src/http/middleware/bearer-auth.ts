import { type JSONWebKeySet, errors as joseErrors, jwtVerify } from 'jose';
import type { Middleware } from 'koa';
import { AppError } from '../../errors/index.ts';
import { followKeySet } from '../../keys/local-key-set.ts';

export interface Principal {
  sub: string;
  subType: 'user' | 'workload';
  tenantId?: string;
  clientId?: string;
  scopes: Set<string>;
  tokenId?: string;
}

export interface BearerAuthOptions {
  issuer: string;
  /** Audience IAM's own API accepts (its resource indicator). */
  audience: string;
  jwks: () => JSONWebKeySet;
  /** Revocation check (jti denylist, revoked grants); errors propagate, so an outage fails closed. */
  isRevoked?: (token: { jti: string; grantId?: string }) => Promise<boolean>;
}

/**
 * Trust profile A for IAM's own API: a JWT access token (RFC 9068) signed by one of our
 * published keys, for our audience, unexpired, and neither it nor its grant revoked.
 */
export function bearerAuth(opts: BearerAuthOptions): Middleware {
  const currentKeySet = followKeySet(opts.jwks);
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (!match?.[1]) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new AppError('unauthorized', { detail: 'a bearer access token is required' });
    }
    try {
      const { payload } = await jwtVerify(match[1], currentKeySet(), {
        issuer: opts.issuer,
        audience: opts.audience,
        typ: 'at+jwt',
        algorithms: ['ES256'],
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      });
      const principal: Principal = {
        sub: String(payload.sub),
        subType: payload.sub_type === 'user' ? 'user' : 'workload',
        tenantId: typeof payload.tid === 'string' ? payload.tid : undefined,
        clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
        scopes: new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : []),
        tokenId: payload.jti,
      };
      ctx.state.principal = principal;
      const grantId = typeof payload.grant_id === 'string' ? payload.grant_id : undefined;
      if (opts.isRevoked && (await opts.isRevoked({ jti: String(payload.jti), grantId }))) throw new RevokedToken();
    } catch (err) {
      if (!(err instanceof joseErrors.JOSEError || err instanceof RevokedToken)) throw err;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new AppError('unauthorized', { detail: 'the access token is invalid, expired or revoked' });
    }
    await next();
  };
}

class RevokedToken extends Error {}

/** Requires every listed scope on the authenticated principal. */
export function requireScopes(...scopes: string[]): Middleware {
  return async (ctx, next) => {
    const principal = ctx.state.principal as Principal | undefined;
    const missing = scopes.filter((s) => !principal?.scopes.has(s));
    if (missing.length) {
      ctx.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`);
      throw new AppError('forbidden', { detail: `missing scope: ${missing.join(' ')}` });
    }
    await next();
  };
}
