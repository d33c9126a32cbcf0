import { expect } from 'chai';
import { checkPassword, DEFAULT_PASSWORD_POLICY, PASSWORD_POLICY_MESSAGES, type PasswordPolicyReason } from '../../src/identity/index.ts';
import { translator } from '../../views/i18n.ts';
import { en } from '../../views/messages/en.ts';
import { POLICY_MESSAGE_KEYS, policyMessageText } from '../../views/pages/password-policy.ts';

/** Password policy reasons reach the sign-up and reset pages through the message catalogue. */
describe('interactions: password policy messages', () => {
  const reasons = Object.keys(PASSWORD_POLICY_MESSAGES) as PasswordPolicyReason[];

  it('the catalogue has a message for every policy reason, under the policy’s own key', () => {
    expect(reasons).to.have.members(['too_short', 'too_long', 'common', 'context']);
    expect(Object.keys(POLICY_MESSAGE_KEYS)).to.have.members(reasons);
    for (const reason of reasons) {
      const key = PASSWORD_POLICY_MESSAGES[reason].key;
      expect(POLICY_MESSAGE_KEYS[reason], reason).to.equal(key);
      expect(en, key).to.have.property(key).that.is.a('string').and.not.empty;
    }
  });

  it('renders every reason of a real verdict with its limits filled in, as the English defaults say', () => {
    const tr = translator('en');
    const short = checkPassword('short', DEFAULT_PASSWORD_POLICY, { context: { email: 'ada@example.com' } });
    const long = checkPassword('x'.repeat(DEFAULT_PASSWORD_POLICY.maxLength + 1), DEFAULT_PASSWORD_POLICY);
    const common = checkPassword('password12345678', DEFAULT_PASSWORD_POLICY);
    const context = checkPassword('ada lovelace wrote infranotes notes', DEFAULT_PASSWORD_POLICY, {
      context: { email: 'lovelace@example.com' },
    });
    const messages = [short, long, common, context].flatMap((v) => (v.ok ? [] : v.messages));
    expect(new Set(messages.map((m) => m.reason))).to.deep.equal(new Set(reasons));
    for (const m of messages) {
      const text = policyMessageText(tr, m);
      expect(text, m.reason).to.not.match(/[{}]/);
      expect(text, m.reason).to.equal(m.defaultMessage);
    }
    expect(policyMessageText(tr, { reason: 'too_short', params: { min: 15 } })).to.equal('Use at least 15 characters.');
  });
});
