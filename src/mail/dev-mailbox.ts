import type { Knex } from 'knex';
import type { Logger } from '../observability/logger.ts';
import type { Mailer, MailMessage } from './types.ts';

/**
 * Development mailbox: mail is stored in PostgreSQL and shown at /dev/mailbox, so sign-in
 * flows work on the embedded default without any SMTP server.
 */
export class DevMailbox implements Mailer {
  readonly mode = 'dev-mailbox' as const;
  readonly #db: Knex;
  readonly #logger: Logger;
  readonly #from: string;

  constructor(db: Knex, logger: Logger, from: string) {
    this.#db = db;
    this.#logger = logger;
    this.#from = from;
  }

  async send(message: MailMessage) {
    const [row] = await this.#db('dev_mailbox')
      .insert({ from: this.#from, to: message.to, subject: message.subject, text: message.text, html: message.html ?? null })
      .returning('id');
    this.#logger.info({ to: message.to, subject: message.subject }, 'mail stored in the development mailbox (/dev/mailbox)');
    return { id: String(row.id) };
  }

  async list(limit = 50) {
    return this.#db('dev_mailbox').select('id', 'from', 'to', 'subject', 'text', 'created_at').orderBy('created_at', 'desc').limit(limit);
  }

  async verify() {}
  async close() {}
}
