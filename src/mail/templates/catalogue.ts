/**
 * Message catalogue types for outgoing mail (ADR-0013). Every sentence a recipient reads lives in a
 * catalogue object per locale — English first (`messages.en.ts`) — with `{name}` placeholders that
 * the renderer fills (and escapes for HTML). Translators copy the English object; nothing else
 * holds user-visible text.
 */
export const MAIL_KINDS = ['email_verification', 'password_reset', 'magic_link', 'email_change', 'invitation'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

export interface MailKindMessages {
  /** Placeholders: {product}, plus {tenant} for invitations. */
  subject: string;
  /** One line shown by mail clients next to the subject. */
  preheader: string;
  /** Placeholders: {product}, {tenant}, {inviter}. */
  intro: string;
  /** Used instead of `intro` when the invitation has no inviter name. */
  introWithoutInviter?: string;
  /** Label of the button / link. */
  action: string;
  /** Placeholder: {duration}. */
  expiry: string;
  /** What to do when the recipient did not ask for this. */
  notYou: string;
  /** Optional extra paragraph (e.g. the same-browser hint of magic links). */
  note?: string;
}

export interface MailCatalogue {
  /** BCP 47 tag used for `<html lang>`. */
  lang: string;
  /** Placeholder: {name}. */
  greeting: string;
  greetingWithoutName: string;
  linkFallback: string;
  /** Placeholders: {product}, {issuer}. */
  footer: string;
  duration: {
    minutesOne: string;
    minutesOther: string;
    hoursOne: string;
    hoursOther: string;
    daysOne: string;
    daysOther: string;
  };
  kinds: Record<MailKind, MailKindMessages>;
}
