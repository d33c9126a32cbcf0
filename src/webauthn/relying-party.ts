import { isIP } from 'node:net';
import { ConfigError } from '../errors/index.ts';
import { printableLine } from './credentials.ts';

/**
 * The WebAuthn relying party of this deployment (ADR-0014). It is derived from the one issuer URL:
 * the RP ID is the issuer's host name and the expected origin is the issuer's origin. Further
 * origins come only from configuration (`auth.webauthn_extra_origins`), never from a request's
 * `Host`, `Origin` or `X-Forwarded-*` headers.
 */
export interface RelyingParty {
  /** The RP ID: the issuer's host name (WebAuthn scopes every credential to it). */
  readonly rpID: string;
  /** Shown by the browser and the authenticator while registering. */
  readonly rpName: string;
  /** Exact origins a ceremony may come from: the issuer's first, then the configured extras. */
  readonly origins: readonly string[];
  /**
   * False when the issuer's host cannot be an RP ID (an IP address): browsers refuse WebAuthn
   * there, so the pages must not offer passkeys and the ceremonies throw `unavailable`.
   */
  readonly available: boolean;
  readonly unavailableReason?: string;
}

export interface RelyingPartyOptions {
  issuer: string;
  rpName?: string;
  extraOrigins?: readonly string[];
}

export const DEFAULT_RP_NAME = 'InfraNotes';

const hostOf = (u: URL) => u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
const isLocalhost = (host: string) => host === 'localhost' || host.endsWith('.localhost');

/** Secure context rule of WebAuthn: https, or http only on localhost. */
function secureOrigin(u: URL): boolean {
  return u.protocol === 'https:' || (u.protocol === 'http:' && isLocalhost(hostOf(u)));
}

function cleanName(name: string | undefined): string {
  const raw = name ?? DEFAULT_RP_NAME;
  const n = printableLine(raw, 65);
  if (!n || n.length > 64) throw new ConfigError('auth.webauthn_rp_name: must be 1-64 printable characters');
  return n;
}

export function createRelyingParty(opts: RelyingPartyOptions): RelyingParty {
  const issuer = new URL(opts.issuer);
  const rpID = hostOf(issuer);
  const rpName = cleanName(opts.rpName);
  const origins = [issuer.origin];

  for (const raw of opts.extraOrigins ?? []) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new ConfigError(`auth.webauthn_extra_origins: "${raw}" is not a URL`);
    }
    if (u.origin !== raw.replace(/\/$/, '')) {
      throw new ConfigError(
        `auth.webauthn_extra_origins: "${raw}" must be an origin (scheme://host[:port], no path, query or credentials)`,
      );
    }
    if (!secureOrigin(u)) throw new ConfigError(`auth.webauthn_extra_origins: "${raw}" must be https (http only on localhost)`);
    const host = hostOf(u);
    // WebAuthn: the RP ID must equal the origin's host or be a registrable suffix of it.
    if (host !== rpID && !host.endsWith(`.${rpID}`)) {
      throw new ConfigError(`auth.webauthn_extra_origins: "${raw}" is not on the RP ID ${rpID} (the issuer's host) or a subdomain of it`);
    }
    if (!origins.includes(u.origin)) origins.push(u.origin);
  }

  let unavailableReason: string | undefined;
  if (isIP(rpID))
    unavailableReason = `the issuer host ${rpID} is an IP address; WebAuthn needs a domain name (use localhost in development)`;
  else if (!secureOrigin(issuer)) unavailableReason = `the issuer ${issuer.origin} is not https (http is allowed only on localhost)`;

  return Object.freeze({
    rpID,
    rpName,
    origins: Object.freeze(origins),
    available: unavailableReason === undefined,
    ...(unavailableReason ? { unavailableReason } : {}),
  });
}

/** The relying party from the validated configuration (`issuer`, `auth.webauthn_*`). */
export function relyingPartyFromConfig(config: {
  issuer: string;
  auth: { webauthn_rp_name: string; webauthn_extra_origins: readonly string[] };
}): RelyingParty {
  return createRelyingParty({
    issuer: config.issuer,
    rpName: config.auth.webauthn_rp_name,
    extraOrigins: config.auth.webauthn_extra_origins,
  });
}
