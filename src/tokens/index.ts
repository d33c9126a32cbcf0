// Token revocation records and introspection decisions (RFC 7662 / RFC 7009) for the tokens the
// engine cannot handle itself (JWT access tokens). No HTTP, no engine: src/oidc drives it.

export {
  type AccessTokenClaims,
  activeResponse,
  type Caller,
  INACTIVE,
  INTROSPECT_SCOPE,
  type IntrospectionResponse,
  mayIntrospect,
  mayLearnAbout,
  parseAccessTokenClaims,
  type RevocationDecision,
  revocationDecision,
  type SubjectType,
  tokenTypeOf,
} from './introspection.ts';
export { createIntrospectionCache, type IntrospectionCache, type IntrospectionCacheOptions } from './introspection-cache.ts';
export {
  type AccessTokenRevocation,
  type GrantRevocation,
  purgeExpiredRevocations,
  type RequestMeta,
  type RevocationReason,
  type RevocationStatus,
  type RevokedTokenType,
  recordStoredTokenRevocation,
  revocationStatus,
  revokeAccessToken,
  revokeGrant,
  type StoredTokenRevocation,
  TOKEN_REVOCATION_CHANNEL,
  TOKEN_REVOKED_EVENT,
} from './revocations.ts';
export { type GrantRef, revokeUserGrants, tenantGrantsOf } from './user-grants.ts';
