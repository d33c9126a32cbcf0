import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { PasswordService } from '../src/identity/index.ts';
import type { Mailer } from '../src/mail/index.ts';
import type { Logger } from '../src/observability/logger.ts';
import type { TenantSignInPolicy } from '../src/oidc/tenant-policy.ts';
import type { FactorGuard } from '../src/security/index.ts';
import type { KeyValueStore } from '../src/store/types.ts';
import type { PasskeyService } from '../src/webauthn/index.ts';
import type { SignInWriteQueue } from './sign-in-writes.ts';

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
  /** Passkey ceremonies (ADR-0014); offered only where `passkeys.relyingParty.available`. */
  passkeys?: PasskeyService;
  tenantPolicy(tenantId: string | null): Promise<TenantSignInPolicy>;
  /** Outgoing mail (magic links, password reset): SMTP or the development mailbox. */
  mailer: Mailer;
  /** Deployment allows self sign-up (`auth.self_signup`); a tenant may still refuse it. */
  selfSignup?: boolean;
  /**
   * Where a completed sign-in leaves its writes for the resume request's transaction (DESIGN §7);
   * absent = written when the login completes.
   */
  signInWrites?: SignInWriteQueue;
  logger: Logger;
}
