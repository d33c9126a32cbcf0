import { z } from 'zod';
import { SIGN_IN_METHODS } from '../oidc/tenant-policy.ts';

/**
 * Tenant settings as the admin API shows them (snake_case, every member present, defaults
 * filled in) and as `tenants.settings` stores them (the camelCase shape the sign-in code
 * already reads: `signInMethods`, `mfa.policy`, `selfSignup`, `session.*`). Updates are JSON
 * merge patches (RFC 7396) on the API shape: a member set to null returns to its default.
 */

export const MFA_POLICIES = ['off', 'optional', 'required', 'phishing_resistant'] as const;

export interface TenantSettings {
  sign_in_methods: string[];
  mfa_policy: (typeof MFA_POLICIES)[number];
  /** null: follow the deployment (`auth.self_signup`); false refuses self sign-up for the tenant. */
  self_signup: boolean | null;
  /** Users whose verified email is at one of the tenant's verified domains may join by themselves. */
  join_by_verified_domain: boolean;
  /** null: the deployment's session lifetimes apply. */
  session_idle_s: number | null;
  session_absolute_s: number | null;
}

const methods = z
  .array(z.enum(SIGN_IN_METHODS))
  .min(1, 'at least one sign-in method must stay allowed')
  .refine((m) => new Set(m).size === m.length, 'methods must not repeat');

/** A settings patch: every member optional, null resets it. */
export const settingsPatch = z
  .object({
    sign_in_methods: methods.nullable().optional(),
    mfa_policy: z.enum(MFA_POLICIES).nullable().optional(),
    self_signup: z.boolean().nullable().optional(),
    join_by_verified_domain: z.boolean().nullable().optional(),
    session_idle_s: z
      .number()
      .int()
      .min(300)
      .max(90 * 86_400)
      .nullable()
      .optional(),
    session_absolute_s: z
      .number()
      .int()
      .min(300)
      .max(400 * 86_400)
      .nullable()
      .optional(),
  })
  .strict();

export type SettingsPatch = z.infer<typeof settingsPatch>;

interface Stored {
  signInMethods?: unknown;
  mfa?: { policy?: unknown };
  selfSignup?: unknown;
  joinByVerifiedDomain?: unknown;
  session?: { idleSeconds?: unknown; absoluteSeconds?: unknown };
  [other: string]: unknown;
}

const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);

export function settingsFromStored(stored: unknown): TenantSettings {
  const s = (stored && typeof stored === 'object' ? stored : {}) as Stored;
  const known = SIGN_IN_METHODS as readonly string[];
  const signIn = Array.isArray(s.signInMethods) ? known.filter((m) => (s.signInMethods as unknown[]).includes(m)) : [...known];
  const policy = MFA_POLICIES.find((p) => p === s.mfa?.policy) ?? 'optional';
  return {
    sign_in_methods: signIn,
    mfa_policy: policy,
    self_signup: typeof s.selfSignup === 'boolean' ? s.selfSignup : null,
    join_by_verified_domain: s.joinByVerifiedDomain === true,
    session_idle_s: int(s.session?.idleSeconds),
    session_absolute_s: int(s.session?.absoluteSeconds),
  };
}

/** Applies a patch to the stored document, keeping members this API does not manage. */
export function applySettingsPatch(stored: unknown, patch: SettingsPatch): { stored: Stored; changed: string[] } {
  const before = settingsFromStored(stored);
  const next = { ...before };
  const changed: string[] = [];
  const defaults = settingsFromStored({});
  for (const key of Object.keys(patch) as (keyof SettingsPatch)[]) {
    const value = patch[key] === null ? defaults[key] : patch[key];
    if (value === undefined) continue;
    (next as Record<string, unknown>)[key] = value;
    if (JSON.stringify(value) !== JSON.stringify(before[key])) changed.push(`settings.${key}`);
  }
  if (next.session_idle_s !== null && next.session_absolute_s !== null && next.session_idle_s > next.session_absolute_s) {
    throw new RangeError('session_idle_s must not exceed session_absolute_s');
  }
  const base = { ...((stored && typeof stored === 'object' ? stored : {}) as Stored) };
  const out: Stored = {
    ...base,
    signInMethods: next.sign_in_methods,
    mfa: { ...(base.mfa ?? {}), policy: next.mfa_policy },
    joinByVerifiedDomain: next.join_by_verified_domain,
    session: { ...(base.session ?? {}) },
  };
  if (next.self_signup === null) delete out.selfSignup;
  else out.selfSignup = next.self_signup;
  const session = out.session as Record<string, unknown>;
  if (next.session_idle_s === null) delete session.idleSeconds;
  else session.idleSeconds = next.session_idle_s;
  if (next.session_absolute_s === null) delete session.absoluteSeconds;
  else session.absoluteSeconds = next.session_absolute_s;
  return { stored: out, changed };
}
