import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { issueToken } from '../../src/identity/one-time-tokens.ts';
import { DevMailbox } from '../../src/mail/index.ts';
import { buildMailLink, MAIL_LINK_PATHS, type MailParams, renderMail, sanitizeDisplayValue } from '../../src/mail/render.ts';
import { SmtpMailer } from '../../src/mail/smtp.ts';
import { catalogueFor, en, MAIL_KINDS, type MailKind } from '../../src/mail/templates/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { testLogger } from '../support/services.ts';
import { smtpListener } from '../support/smtp.ts';

const ISSUER = 'https://id.example.test/iam';
const opts = { issuer: ISSUER, productName: 'InfraNotes' };
const TOKEN = 'q3Wb2Lx0e8Yh1c5r9PzT4nVkS7uMaJdFgHiKoXwE6bN';
const HOSTILE = '<script>alert(1)</script>';

function paramsFor<K extends MailKind>(kind: K, displayName: string | undefined = 'Alice'): MailParams[K] {
  const base = { token: TOKEN, expiresInMinutes: 10, displayName };
  return (kind === 'invitation' ? { ...base, tenantName: 'Acme', inviterName: 'Bob' } : base) as MailParams[K];
}

/** Every href and src in the HTML. */
const urlsIn = (html: string) => [...html.matchAll(/\b(?:href|src)="([^"]*)"/g)].map((m) => m[1] as string);

describe('mail: templates and rendering', () => {
  it('renders subject, text and HTML for every kind', () => {
    for (const kind of MAIL_KINDS) {
      const m = renderMail(kind, paramsFor(kind), opts);
      expect(m.subject, kind).to.include('InfraNotes');
      expect(m.text, kind).to.include('Hello Alice,');
      expect(m.text, kind).to.include(`${ISSUER}${MAIL_LINK_PATHS[kind]}?token=${TOKEN}`);
      expect(m.text, kind).to.include('10 minutes');
      expect(m.html, kind).to.match(/^<!doctype html>/);
      expect(m.html, kind).to.include('<html lang="en">');
      expect(m.html, kind).to.include(en.kinds[kind].action);
      expect(m.html, kind).to.include(`${ISSUER}${MAIL_LINK_PATHS[kind]}?token=${TOKEN}`);
    }
    expect(renderMail('invitation', paramsFor('invitation'), opts).text).to.include('Bob invited you to join Acme on InfraNotes.');
    expect(renderMail('invitation', { token: TOKEN, expiresInMinutes: 10_080, tenantName: 'Acme' }, opts).text)
      .to.include('You have been invited to join Acme on InfraNotes.')
      .and.include('7 days');
    expect(renderMail('password_reset', { token: TOKEN, expiresInMinutes: 60 }, opts).text)
      .to.include('Hello,')
      .and.include('1 hour');
  });

  it('escapes a hostile display name (and tenant, inviter, product) in the HTML', () => {
    for (const kind of MAIL_KINDS) {
      const params =
        kind === 'invitation'
          ? { token: TOKEN, expiresInMinutes: 10, displayName: HOSTILE, tenantName: HOSTILE, inviterName: `"><img src=x onerror=alert(1)>` }
          : { token: TOKEN, expiresInMinutes: 10, displayName: HOSTILE };
      const m = renderMail(kind, params, { ...opts, productName: `Infra<b>Notes</b>` });
      expect(m.html, kind).not.to.include('<script');
      expect(m.html, kind).not.to.include('<img');
      expect(m.html, kind).not.to.include('<b>');
      expect(m.html, kind).to.include('&lt;script&gt;alert(1)&lt;/script&gt;');
      if (kind === 'invitation') expect(m.html).to.include('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    }
  });

  it('contains no remote images, scripts, styles or forms; every link starts with the issuer', () => {
    for (const kind of MAIL_KINDS) {
      const { html, text } = renderMail(kind, paramsFor(kind), opts);
      expect(html).not.to.match(/<(img|script|link|iframe|object|embed|form|style)\b/i);
      expect(html).not.to.match(/url\(|@import/i);
      const urls = urlsIn(html);
      expect(urls.length, kind).to.be.greaterThan(0);
      for (const u of urls) expect(u.replace(/&amp;/g, '&'), kind).to.satisfy((s: string) => s.startsWith(`${ISSUER}/`));
      const textUrls = text.match(/https?:\/\/\S+/g) ?? [];
      expect(textUrls.length, kind).to.be.greaterThan(1);
      for (const u of textUrls) expect(u, kind).to.satisfy((s: string) => s.startsWith(ISSUER));
    }
  });

  it('builds links only from the configured issuer, never from anything request-derived', () => {
    expect(buildMailLink('https://id.example.test', 'magic_link', TOKEN)).to.equal(
      `https://id.example.test/login/magic-link?token=${TOKEN}`,
    );
    expect(buildMailLink('https://id.example.test/', 'password_reset', TOKEN)).to.equal(
      `https://id.example.test/password/reset?token=${TOKEN}`,
    );
    expect(buildMailLink('https://id.example.test/iam/', 'email_verification', TOKEN)).to.equal(
      `https://id.example.test/iam/email/verify?token=${TOKEN}`,
    );
    for (const bad of [
      'id.example.test',
      'javascript:alert(1)',
      'https://u:p@id.example.test',
      'https://id.example.test/?x=1',
      'https://id.example.test/#f',
      'ftp://x',
    ]) {
      expect(() => buildMailLink(bad, 'magic_link', TOKEN), bad).to.throw(TypeError);
    }
    // A token cannot smuggle a path, query or another host into the link.
    for (const bad of ['../../evil', 'a&redirect=https://evil.test', 'https://evil.test/aaaaaaaaaaa', 'short']) {
      expect(() => buildMailLink(ISSUER, 'magic_link', bad), bad).to.throw(TypeError);
    }
  });

  it('keeps subjects on one line and strips control and bidi characters from names', () => {
    const m = renderMail(
      'invitation',
      { token: TOKEN, expiresInMinutes: 10, tenantName: 'Acme\r\nBcc: victim@example.test', inviterName: 'Eve\u202Egnp.exe' },
      opts,
    );
    expect(m.subject).not.to.match(/[\r\n]/);
    expect(m.subject).to.equal('InfraNotes: you are invited to join Acme Bcc: victim@example.test');
    expect(m.text).not.to.include('\u202E');
    expect(sanitizeDisplayValue('x'.repeat(200))).to.have.length(80);
    expect(sanitizeDisplayValue('  a \t b\u0000c  ')).to.equal('a b c');
  });

  it('falls back to English for unknown locales and rejects bad parameters', () => {
    expect(catalogueFor('de-CH')).to.equal(en);
    expect(catalogueFor(undefined)).to.equal(en);
    expect(renderMail('magic_link', paramsFor('magic_link'), { ...opts, locale: 'fr' }).subject).to.equal('InfraNotes: your sign-in link');
    expect(() => renderMail('magic_link', { token: TOKEN, expiresInMinutes: 0 }, opts)).to.throw(RangeError);
  });
});

describe('mail: delivery of rendered mail', function () {
  this.timeout(60_000);
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  it('a magic-link mail sent through the development mailbox is stored with its link', async () => {
    const { token } = await issueToken(database.db, { purpose: 'magic_link', email: 'alice@example.test' });
    const mail = renderMail('magic_link', { token, expiresInMinutes: 10, displayName: HOSTILE }, opts);
    const mailbox = new DevMailbox(database.db, testLogger, 'InfraNotes IAM <no-reply@example.test>');
    const { id } = await mailbox.send({ to: 'alice@example.test', ...mail });
    const row = await database.db('dev_mailbox').where({ id }).first();
    expect(row).to.include({ to: 'alice@example.test', subject: 'InfraNotes: your sign-in link' });
    expect(row.text).to.include(`${ISSUER}/login/magic-link?token=${token}`);
    expect(row.html).to.include('&lt;script&gt;');
    expect((await mailbox.list()).map((m: { id: unknown }) => String(m.id))).to.include(String(id));
  });

  it('a rendered mail goes out through SmtpMailer to a real SMTP listener', async () => {
    const { server, messages } = smtpListener();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const mailer = new SmtpMailer(`smtp://127.0.0.1:${port}?ignoreTLS=true`, 'InfraNotes IAM <no-reply@example.test>');
    try {
      await mailer.verify();
      const mail = renderMail('password_reset', { token: TOKEN, expiresInMinutes: 30, displayName: 'Alice' }, opts);
      await mailer.send({ to: 'alice@example.test', ...mail });
      expect(messages).to.have.length(1);
      const msg = messages[0] as { from: string; to: string[]; data: string };
      expect(msg.from).to.include('no-reply@example.test');
      expect(msg.to.join()).to.include('alice@example.test');
      expect(msg.data).to.match(/^Subject: InfraNotes: reset your password\r?$/m);
      expect(msg.data).to.include('multipart/alternative');
      expect(msg.data).to.include('text/html');
      // The bodies are quoted-printable: undo soft breaks and =XX escapes before looking for the link.
      const decoded = msg.data
        .replace(/=\r\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
      expect(decoded).to.include(`${ISSUER}/password/reset?token=${TOKEN}`);
    } finally {
      await mailer.close();
      server.close();
    }
  });
});
