import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { PasswordService } from '../src/identity/index.ts';
import type { Logger } from '../src/observability/logger.ts';
import type { TenantSignInPolicy } from '../src/oidc/tenant-policy.ts';
import type { FactorGuard } from '../src/security/index.ts';
import type { KeyValueStore } from '../src/store/types.ts';

/** Everything the sign-in steps use; built once in src/app.ts. */
export interface InteractionDeps {
  /** The issuer's path ('' for a root issuer): every route and asset lives below it. */
  prefix: string;
  issuer: string;
  /** The current engine (it is rebuilt on key rotation: always call). */
  provider(): Provider;
  db: Knex;
  /** Short-lived shared state (Redis): the per-interaction sign-in state. */
  store: KeyValueStore;
  /** Opens TOTP seeds and peppers recovery codes. */
  kek: Buffer;
  /** The cookie keys (first signs): CSRF tokens are derived from them. */
  cookieKeys: readonly string[];
  passwords: PasswordService;
  /** Throttle + durable lockout around second-factor verifications. */
  guard: FactorGuard;
  tenantPolicy(tenantId: string | null): Promise<TenantSignInPolicy>;
  logger: Logger;
}
