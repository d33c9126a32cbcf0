import nodemailer, { type Transporter } from 'nodemailer';
import type { Mailer, MailMessage } from './types.ts';

export class SmtpMailer implements Mailer {
  readonly mode = 'smtp' as const;
  readonly #transport: Transporter;
  readonly #from: string;

  constructor(url: string, from: string) {
    this.#transport = nodemailer.createTransport(url);
    this.#from = from;
  }

  async send(message: MailMessage) {
    const info = await this.#transport.sendMail({ from: this.#from, ...message });
    return { id: info.messageId };
  }

  async verify() {
    await this.#transport.verify();
  }

  async close() {
    this.#transport.close();
  }
}
