import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { AccountMail } from '../../../account/index.ts';
import type { PasswordService } from '../../../identity/index.ts';
import type { Logger } from '../../../observability/logger.ts';
import type { AccountEngineDeps } from '../../../oidc/account-sessions.ts';
import type { KeyValueStore } from '../../../store/types.ts';
import type { PasskeyService } from '../../../webauthn/index.ts';

/** Everything the account pages use; built once in src/app.ts. */
export interface AccountDeps {
  /** The issuer's path ('' for a root issuer): the pages live at `<prefix>/account`. */
  prefix: string;
  issuer: string;
  /** The current engine (rebuilt on key rotation: always call). */
  provider(): Provider;
  db: Knex;
  /** Shared short-lived state: the account sessions and pending sign-ins (any instance serves any request). */
  store: KeyValueStore;
  /** Opens TOTP seeds and peppers recovery codes. */
  kek: Buffer;
  /** Cookie keys (first signs, all verify): the session cookie's signature and the CSRF tokens derive from them. */
  cookieKeys: readonly string[];
  passwords: PasswordService;
  /** Passkey ceremonies; offered only where `relyingParty.available`. */
  passkeys?: PasskeyService;
  mail: AccountMail;
  /** The engine's sessions and grants of the user (src/oidc/account-sessions.ts). */
  engine: AccountEngineDeps;
  /** `account.recent_auth_s`. */
  recentAuthS: number;
  /** `account.session_idle_s` / `account.session_max_s`. */
  sessionIdleS: number;
  sessionMaxS: number;
  /** `auth.password_min_length` / `_with_mfa`: what the password page tells the user. */
  passwordMinLength: { withoutMfa: number; withMfa: number };
  logger: Logger;
}
