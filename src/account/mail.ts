import type { Mailer } from '../mail/index.ts';
import { type NoticeKind, renderNotice } from '../mail/notices.ts';
import { renderMail } from '../mail/render.ts';
import type { Logger } from '../observability/logger.ts';

/** What the account flows need to send mail. */
export interface AccountMail {
  mailer: Mailer;
  /** The configured issuer: the only origin links in mail are built from. */
  issuer: string;
  productName: string;
  logger: Logger;
}

/**
 * Tells the owner that something changed (best effort: the change stands whether or not the
 * notice goes out; a failure is logged, never shown as a failed change).
 */
export async function sendNotice(m: AccountMail, kind: NoticeKind, to: string | null, displayName: string | null): Promise<boolean> {
  if (!to) return false;
  try {
    const mail = renderNotice(kind, { displayName }, { issuer: m.issuer, productName: m.productName });
    await m.mailer.send({ to, ...mail });
    return true;
  } catch (err) {
    m.logger.warn({ err, notice: kind }, 'account notice could not be sent');
    return false;
  }
}

/** The confirmation link for a new address (throws when it cannot be sent: the user must know). */
export async function sendEmailChangeLink(
  m: AccountMail,
  link: { to: string; token: string; expiresAt: Date; displayName: string | null },
): Promise<void> {
  const minutes = Math.max(1, Math.round((link.expiresAt.getTime() - Date.now()) / 60_000));
  const mail = renderMail(
    'email_change',
    { token: link.token, expiresInMinutes: minutes, displayName: link.displayName },
    { issuer: m.issuer, productName: m.productName },
  );
  await m.mailer.send({ to: link.to, ...mail });
}
