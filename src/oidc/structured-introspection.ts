import { decodeProtectedHeader } from 'jose';
import type { Middleware } from 'koa';
// The engine's introspection action: the middleware list its router spreads into the route when a
// Provider is constructed (lib/helpers/initialize_app.js). No typings: it is not a public entry point.
// @ts-expect-error untyped internal module of oidc-provider, checked at run time below
import introspectionAction from 'oidc-provider/lib/actions/introspection.js';

/**
 * Set on `ctx.state` when an introspection request carries a JWT: the engine's checks before that point
 * (body, client authentication, duplicate and missing parameters) have passed, and the answer is
 * src/oidc/token-endpoints.ts's to give.
 */
export const STRUCTURED_TOKEN = Symbol('iam.structuredToken');

type KoaCtx = Parameters<Middleware>[0];
type Step = ((ctx: KoaCtx, next: () => Promise<unknown>) => unknown) & { iamSeam?: true };

/*
 * For a JWT access token the engine's introspection stops at `rejectStructuredTokens`, which throws
 * UnsupportedTokenType; its error handler renders that, and token-endpoints.ts then answers from the
 * signature and the revocation records. Constructing that error captures a stack trace, and it was a
 * fifth of the CPU of a JWT introspection (profile, 2026-12-06). This step runs just before it, makes
 * the same test (a decodable JWS header, as the engine's step does), and for a JWT marks the request
 * and stops the engine's chain there without an error; anything else goes on unchanged.
 */
const markStructured: Step = async (ctx, next) => {
  const token = (ctx as unknown as { oidc?: { params?: { token?: unknown } } }).oidc?.params?.token;
  if (typeof token === 'string' && token.startsWith('eyJ')) {
    let jws = false;
    try {
      jws = Boolean(decodeProtectedHeader(token));
    } catch {
      // not a JWS: the engine handles it (and rejects it if it is structured in some other way)
    }
    if (jws) {
      (ctx.state as Record<symbol, unknown>)[STRUCTURED_TOKEN] = true;
      return;
    }
  }
  await next();
};
markStructured.iamSeam = true;

/**
 * Puts the step into the engine's introspection chain, once per process, before any Provider is
 * constructed (the chain is copied into the route then). The chain is the engine module's own, so every
 * Provider built in this process afterwards has the step; IAM builds only its own (provider.ts), whose
 * token-endpoints middleware answers what the step hands over. Fails loudly if the engine's chain no
 * longer has the step it must precede: re-check this seam on engine upgrades. A JWS the quick `eyJ` test
 * misses still reaches the engine's step and its error, which token-endpoints.ts handles as before.
 */
export function installStructuredIntrospectionSeam(): void {
  const chain = introspectionAction as Step[];
  if (!Array.isArray(chain))
    throw new Error('oidc-provider introspection action changed shape: review src/oidc/structured-introspection.ts');
  if (chain.some((step) => step.iamSeam)) return;
  const at = chain.findIndex((step) => step.name === 'rejectStructuredTokens');
  if (at < 0)
    throw new Error('oidc-provider introspection has no rejectStructuredTokens step: review src/oidc/structured-introspection.ts');
  chain.splice(at, 0, markStructured);
}
