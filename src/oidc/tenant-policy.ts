import type { Knex } from '../db/knex.ts';
import { type MfaPolicy, parseMfaPolicy } from './acr.ts';
import { parseSessionOverrides, type SessionLifetimes } from './session-lifetimes.ts';

/** Sign-in methods a tenant may allow (`tenants.settings.signInMethods`). */
export const SIGN_IN_METHODS = ['password', 'magic_link', 'passkey', 'social', 'federation'] as const;
export type SignInMethod = (typeof SIGN_IN_METHODS)[number];

/** The sign-in rules of the tenant a client belongs to (platform clients: the defaults). */
export interface TenantSignInPolicy {
  mfa: MfaPolicy;
  methods: SignInMethod[];
  /** `settings.selfSignup`: false refuses self sign-up even where the deployment allows it. */
  selfSignup?: boolean;
  /** `settings.session`: the tenant's idle/absolute session lifetimes over the deployment's (ADR-0019). */
  session?: Partial<SessionLifetimes>;
}

export const DEFAULT_SIGN_IN_POLICY: Readonly<TenantSignInPolicy> = Object.freeze({ mfa: 'optional', methods: [...SIGN_IN_METHODS] });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reads `settings.mfa.policy`, `settings.signInMethods`, `settings.selfSignup` and `settings.session`, tolerating absent or malformed members. */
export function parseTenantSignInPolicy(settings: unknown): TenantSignInPolicy {
  const s = (settings && typeof settings === 'object' ? settings : {}) as {
    mfa?: { policy?: unknown };
    signInMethods?: unknown;
    selfSignup?: unknown;
  };
  const methods = Array.isArray(s.signInMethods)
    ? SIGN_IN_METHODS.filter((m) => (s.signInMethods as unknown[]).includes(m))
    : [...SIGN_IN_METHODS];
  const session = parseSessionOverrides(settings);
  return {
    mfa: parseMfaPolicy(s.mfa?.policy),
    methods,
    ...(typeof s.selfSignup === 'boolean' ? { selfSignup: s.selfSignup } : {}),
    ...(Object.keys(session).length > 0 ? { session } : {}),
  };
}

/**
 * The lookup the interaction policy and the sign-in pages share: one primary-key read per call,
 * never cached, so a tenant that starts requiring MFA does so from its next authorization request.
 */
export function createTenantPolicyLookup(db: Knex): (tenantId: string | null | undefined) => Promise<TenantSignInPolicy> {
  return async (tenantId) => {
    if (!tenantId || !UUID.test(tenantId)) return { ...DEFAULT_SIGN_IN_POLICY, methods: [...DEFAULT_SIGN_IN_POLICY.methods] };
    const row = await db('tenants').where({ id: tenantId }).first('settings');
    return parseTenantSignInPolicy(row?.settings);
  };
}
