import { errors } from 'oidc-provider';
import { CLIENT_EXTRA_METADATA } from '../../adapters/client.ts';
import type { Caller } from '../tokens/index.ts';

/**
 * IAM's own client metadata, carried verbatim on the engine's Client (declared in
 * `extraClientMetadata.properties`): `client.allowed_resources`, `client.tenant_id`, …
 */
export const EXTRA_CLIENT_METADATA: readonly string[] = CLIENT_EXTRA_METADATA;

export interface IamClientMetadata {
  first_party: boolean;
  /** RFC 8707 resource indicators the client may obtain access tokens for. */
  allowed_resources: string[];
  /** Scopes the client may request, plus capabilities such as `iam.tokens.introspect`. */
  allowed_scopes: string[];
  access_token_format: 'jwt' | 'opaque';
  /** Owning tenant; null = platform client. */
  tenant_id: string | null;
}

/** The engine client's shape as far as we read it (the typings index everything as unknown). */
export interface EngineClient {
  clientId: string;
  clientAuthMethod?: string;
  grantTypes?: string[];
  redirectUris?: string[];
  [key: string]: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

const DEFAULTS: IamClientMetadata = {
  first_party: false,
  allowed_resources: [],
  allowed_scopes: [],
  access_token_format: 'jwt',
  tenant_id: null,
};

/**
 * `extraClientMetadata.validator`: fills defaults for absent members and refuses wrong types,
 * so the rest of the OIDC layer can trust what {@link iamMetadata} returns. Synchronous, as the
 * engine requires.
 */
export function validateExtraClientMetadata(_ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>): void {
  if (!(key in DEFAULTS)) return;
  const k = key as keyof IamClientMetadata;
  if (value === undefined) {
    const d = DEFAULTS[k];
    metadata[key] = Array.isArray(d) ? [...d] : d;
    return;
  }
  const bad = (expected: string) => {
    throw new errors.InvalidClientMetadata(`${key} must be ${expected}`);
  };
  switch (k) {
    case 'first_party':
      if (typeof value !== 'boolean') bad('a boolean');
      break;
    case 'allowed_resources':
    case 'allowed_scopes':
      if (!isStringArray(value)) bad('an array of strings');
      break;
    case 'access_token_format':
      if (value !== 'jwt' && value !== 'opaque') bad('"jwt" or "opaque"');
      break;
    case 'tenant_id':
      if (value !== null && !(typeof value === 'string' && UUID.test(value))) bad('a UUID or null');
      break;
  }
}

/** IAM metadata of an engine client (defaults for anything the validator did not see). */
export function iamMetadata(client: unknown): IamClientMetadata {
  const c = (client ?? {}) as Record<string, unknown>;
  return {
    first_party: c.first_party === true,
    allowed_resources: isStringArray(c.allowed_resources) ? c.allowed_resources : [],
    allowed_scopes: isStringArray(c.allowed_scopes) ? c.allowed_scopes : [],
    access_token_format: c.access_token_format === 'opaque' ? 'opaque' : 'jwt',
    tenant_id: typeof c.tenant_id === 'string' && UUID.test(c.tenant_id) ? c.tenant_id : null,
  };
}

/** The token-domain view of an authenticated engine client. */
export function callerOf(client: EngineClient): Caller {
  const meta = iamMetadata(client);
  return {
    clientId: client.clientId,
    tenantId: meta.tenant_id,
    allowedScopes: meta.allowed_scopes,
    isPublic: client.clientAuthMethod === 'none',
  };
}
