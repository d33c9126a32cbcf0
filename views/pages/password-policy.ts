import type { PasswordPolicyReason, PolicyMessage } from '../../src/identity/password-policy.ts';
import type { MessageKey, Translator } from '../i18n.ts';

/**
 * The catalogue key of each password policy reason: a reason the policy module adds without a
 * message here fails to compile, and the catalogue test checks the keys are the policy's own.
 */
export const POLICY_MESSAGE_KEYS: Readonly<Record<PasswordPolicyReason, MessageKey>> = Object.freeze({
  too_short: 'password.policy.too_short',
  too_long: 'password.policy.too_long',
  common: 'password.policy.common',
  context: 'password.policy.context',
});

/** A policy verdict's message in the page's language, its limits (`{min}`, `{max}`) filled in. */
export function policyMessageText(tr: Translator, m: Pick<PolicyMessage, 'reason' | 'params'>): string {
  return tr.t(POLICY_MESSAGE_KEYS[m.reason], m.params);
}
