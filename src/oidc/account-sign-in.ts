import { createHash, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Logger } from '../observability/logger.ts';
import { OIDC_ROUTES } from './provider.ts';

/**
 * The account pages as a first-party relying party of this issuer (ADR-0018). The browser goes
 * through the engine's own authorization endpoint (code + PKCE S256, `state`, `nonce`), so the
 * sign-in, its second factors, `max_age`/`prompt=login` and the session are the engine's. The
 * code comes back to our callback and is redeemed here, in-process, with the same checks as the
 * token endpoint — client, redirect URI, expiry, PKCE, single use (the adapter's atomic consume)
 * — instead of an HTTP call from the service to its own public URL: no client secret exists and
 * nothing depends on the issuer being reachable from inside the deployment. No token is issued:
 * the grant the engine made for the code is deleted, and the code's `auth_time`, `amr`, `acr`
 * and session uid are what the account session keeps.
 */

export interface AuthorizationRequestInput {
  issuer: string;
  clientId: string;
  redirectUri: string;
  state: string;
  nonce: string;
  codeChallenge: string;
  /** A fresh sign-in whatever the session (re-authentication before a sensitive change). */
  forceLogin?: boolean;
  loginHint?: string;
}

/** The engine's authorization URL under the issuer (routes relative to the issuer, as discovery says). */
export function accountAuthorizationUrl(input: AuthorizationRequestInput): string {
  const url = new URL(`${input.issuer.replace(/\/+$/, '')}${OIDC_ROUTES.authorization}`);
  const params: Record<string, string> = {
    client_id: input.clientId,
    response_type: 'code',
    redirect_uri: input.redirectUri,
    scope: 'openid',
    state: input.state,
    nonce: input.nonce,
    code_challenge: input.codeChallenge,
    code_challenge_method: 'S256',
    ...(input.forceLogin ? { prompt: 'login', max_age: '0' } : {}),
    ...(input.loginHint ? { login_hint: input.loginHint } : {}),
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** What a redeemed code says about the sign-in. */
export interface FirstPartySignIn {
  accountId: string;
  /** `auth_time`, epoch seconds. */
  authTime: number;
  amr: string[];
  acr?: string;
  /** The engine session's uid (stable across its id rotation): the account session is bound to it. */
  sessionUid: string;
}

export interface RedeemInput {
  code: string;
  clientId: string;
  redirectUri: string;
  codeVerifier: string;
  nonce: string;
}

const s256 = (verifier: string) => createHash('sha256').update(verifier, 'ascii').digest('base64url');
const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const CODE_FORMAT = /^[A-Za-z0-9_-]{16,128}$/;

/** Redeems an authorization code of the account client; null (and a log line) for any failure. */
export async function redeemFirstPartyCode(provider: Provider, input: RedeemInput, logger?: Logger): Promise<FirstPartySignIn | null> {
  const refuse = (reason: string) => {
    logger?.warn({ reason, client_id: input.clientId }, 'account sign-in: authorization code refused');
    return null;
  };
  if (typeof input.code !== 'string' || !CODE_FORMAT.test(input.code)) return refuse('malformed code');
  const code = await provider.AuthorizationCode.find(input.code);
  if (!code || code.isExpired) return refuse('unknown or expired code');
  if (code.clientId !== input.clientId || code.redirectUri !== input.redirectUri) return refuse('code of another client or redirect');
  if ((code as unknown as { consumed?: unknown }).consumed) {
    // A replayed code: whatever it was issued for is withdrawn, as the token endpoint does.
    await destroyGrant(provider, code.grantId);
    return refuse('code replayed');
  }
  if (code.codeChallengeMethod !== 'S256' || !code.codeChallenge || !sameText(s256(input.codeVerifier), code.codeChallenge)) {
    return refuse('PKCE verifier mismatch');
  }
  if (!code.nonce || !sameText(code.nonce, input.nonce)) return refuse('nonce mismatch');
  try {
    await code.consume();
  } catch {
    return refuse('code consumed in parallel');
  }
  await destroyGrant(provider, code.grantId);
  if (!code.accountId || !code.sessionUid || typeof code.authTime !== 'number') return refuse('code without a sign-in');
  return {
    accountId: code.accountId,
    authTime: code.authTime,
    amr: Array.isArray(code.amr) ? code.amr.filter((v): v is string => typeof v === 'string') : [],
    ...(typeof code.acr === 'string' ? { acr: code.acr } : {}),
    sessionUid: code.sessionUid,
  };
}

async function destroyGrant(provider: Provider, grantId: string | undefined): Promise<void> {
  if (!grantId) return;
  const grant = await provider.Grant.find(grantId);
  await grant?.destroy();
}
