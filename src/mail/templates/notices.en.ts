/**
 * English text of the security notices (ADR-0018): mail that tells the account owner a change
 * was made, with no token in it — a link to the account pages only. Placeholders: {product},
 * {issuer}, {name}. Other locales copy this object.
 */
export const NOTICE_KINDS = ['email_changed', 'password_changed', 'second_factor_added', 'second_factor_removed'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

export interface NoticeMessages {
  subject: string;
  preheader: string;
  intro: string;
  /** What to do when it was not the owner. */
  notYou: string;
}

export interface NoticeCatalogue {
  lang: string;
  action: string;
  /** Placeholders: {product}, {issuer}. */
  footer: string;
  kinds: Record<NoticeKind, NoticeMessages>;
}

export const noticesEn: NoticeCatalogue = {
  lang: 'en',
  action: 'Review your account',
  footer: 'Sent by {product}, {issuer} because your account changed.',
  kinds: {
    email_changed: {
      subject: '{product}: your email address was changed',
      preheader: 'The email address of your account was changed.',
      intro:
        'The email address of your {product} account was changed. From now on, sign-in links and notices go to the new address, not to this one.',
      notYou: 'If you did not make this change, contact your administrator at once: someone else may be using your account.',
    },
    password_changed: {
      subject: '{product}: your password was changed',
      preheader: 'The password of your account was changed.',
      intro: 'The password of your {product} account was changed, and your other sessions were signed out.',
      notYou: 'If you did not make this change, reset your password from the sign-in page and contact your administrator.',
    },
    second_factor_added: {
      subject: '{product}: a sign-in method was added to your account',
      preheader: 'A sign-in method was added to your account.',
      intro: 'An authenticator app or a passkey was added to your {product} account.',
      notYou: 'If you did not make this change, review your account and sign out everywhere, then contact your administrator.',
    },
    second_factor_removed: {
      subject: '{product}: a sign-in method was removed from your account',
      preheader: 'A sign-in method was removed from your account.',
      intro: 'An authenticator app or a passkey was removed from your {product} account.',
      notYou: 'If you did not make this change, review your account and sign out everywhere, then contact your administrator.',
    },
  },
};
