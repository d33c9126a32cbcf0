import type { Knex } from 'knex';
import type { Logger } from '../observability/logger.ts';
import { DevMailbox } from './dev-mailbox.ts';
import { SmtpMailer } from './smtp.ts';
import type { Mailer } from './types.ts';

export { DevMailbox } from './dev-mailbox.ts';
export type { Mailer, MailMessage } from './types.ts';

export function createMailer(opts: { smtpUrl?: string; from: string; db: Knex; logger: Logger }): Mailer {
  if (opts.smtpUrl) return new SmtpMailer(opts.smtpUrl, opts.from);
  opts.logger.warn('mail.smtp_url is not set: mail goes to the development mailbox at /dev/mailbox');
  return new DevMailbox(opts.db, opts.logger, opts.from);
}
