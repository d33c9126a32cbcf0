import type Router from '@koa/router';
import { tenantRoutes } from '../tenants.ts';
import { domainRoutes } from './domains.ts';
import { grantRoutes } from './grants.ts';
import { invitationRoutes } from './invitations.ts';
import { memberRoutes } from './members.ts';
import { roleRoutes } from './roles.ts';
import type { AdminDeps } from './support.ts';

export type { AdminDeps } from './support.ts';

/** Every router of the admin REST API (ADR-0017), in registration order. */
export function adminRoutes(deps: AdminDeps): Router[] {
  return [
    tenantRoutes(deps),
    memberRoutes(deps),
    ...invitationRoutes(deps),
    ...roleRoutes(deps),
    ...grantRoutes(deps),
    ...domainRoutes(deps),
  ];
}
