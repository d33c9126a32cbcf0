import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';

export interface SmtpMessage {
  from: string;
  to: string[];
  data: string;
}

/** A minimal SMTP listener (RFC 5321 happy path), enough for nodemailer to deliver one message. */
export function smtpListener(): { server: Server; messages: SmtpMessage[] } {
  const messages: SmtpMessage[] = [];
  const server = createServer((socket: Socket) => {
    let buffer = '';
    let inData = false;
    let current = { from: '', to: [] as string[], data: '' };
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply('220 test.local ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          current.data = buffer.slice(0, end).replace(/\r\n\.\./g, '\r\n.');
          buffer = buffer.slice(end + 5);
          inData = false;
          messages.push(current);
          current = { from: '', to: [], data: '' };
          reply('250 2.0.0 queued as test');
          continue;
        }
        const nl = buffer.indexOf('\r\n');
        if (nl < 0) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 test.local');
        else if (verb === 'MAIL') {
          current.from = line.slice(10);
          reply('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          current.to.push(line.slice(8));
          reply('250 2.1.5 ok');
        } else if (verb === 'DATA') {
          inData = true;
          reply('354 end with <CRLF>.<CRLF>');
        } else if (verb === 'QUIT') {
          reply('221 bye');
          socket.end();
          return;
        } else if (verb === 'RSET' || verb === 'NOOP') reply('250 ok');
        else reply('502 not implemented');
      }
    });
  });
  return { server, messages };
}

/** Undoes quoted-printable soft breaks and `=XX` escapes (nodemailer's text and HTML bodies). */
export const decodeQuotedPrintable = (data: string): string =>
  data.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

/** A listening SMTP server on 127.0.0.1 and what it received; `url` is for `IAM_MAIL_SMTP_URL`. */
export async function startSmtp(): Promise<{ url: string; messages: SmtpMessage[]; close(): Promise<void> }> {
  const { server, messages } = smtpListener();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    messages,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** Waits for the `nth` (1-based) message to `to` and returns the first link in it with `path`. */
export async function waitForMailLink(
  messages: readonly SmtpMessage[],
  to: string,
  path: string,
  nth = 1,
  timeoutMs = 15_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`https?://[^\\s"<>]*${escaped}\\?token=[A-Za-z0-9_-]+`);
  while (Date.now() < deadline) {
    const mine = messages.filter((m) => m.to.some((r) => r.toLowerCase().includes(to.toLowerCase())));
    const msg = mine[nth - 1];
    const link = msg ? pattern.exec(decodeQuotedPrintable(msg.data))?.[0] : undefined;
    if (link) return link;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error(`no mail #${nth} to ${to} with a link to ${path}`);
}
