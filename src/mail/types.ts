export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/** Outgoing mail: SMTP in real deployments, the development mailbox otherwise. */
export interface Mailer {
  readonly mode: 'smtp' | 'dev-mailbox';
  send(message: MailMessage): Promise<{ id: string }>;
  verify(): Promise<void>;
  close(): Promise<void>;
}
