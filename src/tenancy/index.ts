/**
 * Tenancy administration (ADR-0017): tenants, members, invitations, roles, bindings, overrides,
 * delegations and email domains, each change authorised by the check engine and recorded with
 * its audit and outbox events. Koa-free: the HTTP routes, the CLI and the sign-in flow call these.
 */
export { type Actor, type Caller, PLATFORM_ADMIN, type RequestMeta } from './actor.ts';
export { countOwners, enterTenant, type TenantAccess } from './authority.ts';
export * from './bindings.ts';
export * from './delegations.ts';
export * from './domains.ts';
export { checkIfMatch, etagOf } from './etag.ts';
export { IDEMPOTENCY_KEY, idempotent, purgeExpiredIdempotencyKeys, type StoredResponse } from './idempotency.ts';
export * from './invitation-client.ts';
export * from './invitations.ts';
export * from './memberships.ts';
export * from './overrides.ts';
export { decodeCursor, encodeCursor, type Page } from './pagination.ts';
export * from './roles.ts';
export * from './sign-in-tenants.ts';
export * from './tenants.ts';
export { currentRevision, tenantWrite } from './write.ts';
