import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright-core';
import type { TestClient } from '../oidc/support.ts';
import { repoRoot } from '../support/services.ts';

/** Generous but bounded: a 2-core box runs the service, PostgreSQL, Redis and Chromium at once. */
export const NAV_TIMEOUT = 30_000;

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.IAM_TEST_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    timeout: 60_000,
  });
}

export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1024, height: 800 } });
  context.setDefaultTimeout(NAV_TIMEOUT);
  context.setDefaultNavigationTimeout(NAV_TIMEOUT);
  return context;
}

/**
 * A page with a virtual CTAP2 platform authenticator that verifies the user (resident keys, UV),
 * driven over the DevTools WebAuthn domain. The virtual authenticator answers a conditional
 * (autofill) request at once, as if the user picked the passkey; flows that test the buttons pass
 * `conditionalUi: false` to run as a browser without conditional UI.
 */
export async function pageWithAuthenticator(
  browser: Browser,
  opts: { conditionalUi?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string }> {
  const context = await newContext(browser);
  if (opts.conditionalUi === false) {
    await context.addInitScript('PublicKeyCredential.isConditionalMediationAvailable = async () => false;');
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

const SCREENSHOTS = join(repoRoot, 'test-results', 'screenshots');
const AXE_SOURCE = readFileSync(join(repoRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * Watches one page of a flow: every page it passes through is screenshotted
 * (`test-results/screenshots/<flow>-<n>-<page>.png`), checked by axe-core (no serious or
 * critical violation), and checked for CSP violations reported by Chromium.
 */
export class FlowRecorder {
  readonly flow: string;
  readonly page: Page;
  readonly cspViolations: string[] = [];
  #n = 0;

  constructor(flow: string, page: Page) {
    this.flow = flow;
    this.page = page;
    mkdirSync(SCREENSHOTS, { recursive: true });
    // Screenshots of an earlier run of this flow would mix with this run's.
    for (const f of readdirSync(SCREENSHOTS))
      if (f.startsWith(`${flow}-`) && /^\d+-/.test(f.slice(flow.length + 1))) rmSync(join(SCREENSHOTS, f));
    page.on('console', (msg) => {
      const text = msg.text();
      if (/Content[ -]Security[ -]Policy|Refused to (load|apply|execute|frame|send)/i.test(text)) this.cspViolations.push(text);
    });
  }

  /** Waits for our page with `heading`, then records it as `<name>`. */
  async at(name: string, heading: RegExp | string): Promise<void> {
    await this.page.waitForLoadState('load');
    await this.page.getByRole('heading', { level: 1, name: heading }).waitFor({ state: 'visible' });
    await this.record(name);
  }

  async record(name: string): Promise<void> {
    this.#n += 1;
    await this.page.screenshot({ path: join(SCREENSHOTS, `${this.flow}-${this.#n}-${name}.png`), fullPage: true });
    // The stylesheet (nonce-allowed) applied: the page background is ours.
    const bg = await this.page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(bg, `${name}: stylesheet applied`).to.equal('rgb(238, 240, 244)');
    // axe-core is evaluated over the DevTools protocol (page CSP forbids injected scripts, as it should).
    await this.page.evaluate(AXE_SOURCE);
    const violations = (await this.page.evaluate(
      "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)",
    )) as AxeViolation[];
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(
      serious.map((v) => `${v.id} (${v.impact}): ${v.help} @ ${JSON.stringify(v.nodes.map((n) => n.target))}`),
      `${this.flow}/${name}: axe serious/critical violations`,
    ).to.deep.equal([]);
    expect(this.cspViolations, `${this.flow}/${name}: CSP violations`).to.deep.equal([]);
  }
}

/**
 * Submits the page's form with the button named `button`, waits for the new document (also when
 * it has the same URL, as a page re-rendered with errors has) and checks where it landed.
 */
export async function submit(page: Page, button: string | RegExp, to: RegExp | ((url: URL) => boolean)): Promise<void> {
  const committed = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() });
  await page.getByRole('button', { name: button }).click();
  await committed;
  await page.waitForURL(to, { waitUntil: 'load' });
}

// --- the relying party (openid-client) -----------------------------------------------------------

export interface AuthorizationRequest {
  url: string;
  verifier: string;
  state: string;
  nonce: string;
}

/** openid-client as the relying party of one client: discovery, code + PKCE, ID token validation. */
export class RelyingParty {
  readonly config: oidc.Configuration;
  readonly redirectUri: string;

  private constructor(config: oidc.Configuration, redirectUri: string) {
    this.config = config;
    this.redirectUri = redirectUri;
  }

  static async discover(issuer: string, client: TestClient, redirectUri: string): Promise<RelyingParty> {
    const config = await oidc.discovery(new URL(issuer), client.client_id, undefined, oidc.ClientSecretBasic(client.client_secret), {
      execute: [oidc.allowInsecureRequests],
    });
    return new RelyingParty(config, redirectUri);
  }

  async authorizationRequest(params: Record<string, string> = {}): Promise<AuthorizationRequest> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: this.redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    return { url: url.toString(), verifier, state, nonce };
  }

  /** Redeems the callback (validates iss, state, PKCE, the ID token's signature, nonce, aud …). */
  finish(callbackUrl: string, request: AuthorizationRequest) {
    return oidc.authorizationCodeGrant(this.config, new URL(callbackUrl), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: true,
    });
  }

  endSessionUrl(params: Record<string, string>): string {
    return oidc.buildEndSessionUrl(this.config, params).toString();
  }
}
