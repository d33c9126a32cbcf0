import type { Browser } from 'playwright-core';
import { type RpServer, startRp, webClient } from '../interactions/support.ts';
import { startOidcService, type TestClient } from '../oidc/support.ts';
import type { TestService } from '../support/service.ts';
import { type SmtpMessage, startSmtp } from '../support/smtp.ts';
import { launchBrowser, RelyingParty } from './support.ts';

/** Everything a mail-driven browser flow needs: a real SMTP listener, the service sending to it, an RP and Chromium. */
export interface MailFlowStack {
  smtp: { url: string; messages: SmtpMessage[]; close(): Promise<void> };
  t: TestService;
  rp: RpServer;
  browser: Browser;
  client: TestClient;
  app: RelyingParty;
}

export async function startMailFlowStack(env: Record<string, string> = {}): Promise<MailFlowStack> {
  const smtp = await startSmtp();
  const [t, rp, browser] = await Promise.all([startOidcService({ IAM_MAIL_SMTP_URL: smtp.url, ...env }), startRp(), launchBrowser()]);
  const client = await webClient(t, { firstParty: true, redirectUris: [rp.callback] });
  const app = await RelyingParty.discover(t.url, client, rp.callback);
  return { smtp, t, rp, browser, client, app };
}

export async function stopMailFlowStack(s: Partial<MailFlowStack>): Promise<void> {
  await s.browser?.close();
  await s.rp?.close();
  await s.t?.stop();
  await s.smtp?.close();
}
