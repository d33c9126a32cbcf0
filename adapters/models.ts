import { hash } from 'node:crypto';
import { type AdapterPayload, errors } from 'oidc-provider';

/**
 * Which oidc-provider model lives where, and how its id is stored (ADR-0010).
 * Every backend (PostgreSQL, Redis, memory) applies the same rules through this module.
 */

/** Short-lived, write-heavy models: Redis when configured, else the in-process store. */
export const SHORT_LIVED_MODELS: ReadonlySet<string> = new Set([
  'Interaction',
  'AuthorizationCode',
  'AccessToken',
  'ClientCredentials',
  'PushedAuthorizationRequest',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'ReplayDetection',
  'PreAuthorizedCode',
]);

/** Served by the client adapter (adapters/client.ts), never by the storage factory. */
export const CLIENT_MODEL = 'Client';

/**
 * Ids stored as given. Grant ids are cross-references (every token carries `grantId`, admin
 * revocation starts from a Grant row) and Session ids must come back from `findByUid`; neither is
 * usable as a bearer credential on its own (the session cookie is signed).
 */
const PLAIN_ID_MODELS: ReadonlySet<string> = new Set(['Grant', 'Session']);

/**
 * Hashed-id models whose payload must keep `jti`: the engine re-saves the DeviceCode it found by
 * user code under its `jti` and copies that `jti` into the Interaction, so the raw device code has to
 * come back from `findByUserCode` (ADR-0010 records this exception).
 */
const KEEP_JTI_MODELS: ReadonlySet<string> = new Set(['DeviceCode']);

/**
 * Models written once and never legitimately re-saved under a live id. The engine's
 * `ReplayDetection.unique` is find-then-upsert (a race: two parallel uses of one DPoP proof or client
 * assertion both see "absent"); making the write create-only lets exactly one of them through.
 */
const CREATE_ONLY_MODELS: ReadonlySet<string> = new Set(['ReplayDetection']);

export function isCreateOnly(model: string): boolean {
  return CREATE_ONLY_MODELS.has(model);
}

/** What a lost create-only write throws (the request fails as a replay, never as a server error). */
export function replayDetected(model: string): Error {
  return new errors.InvalidRequest(`${model} replay detected`);
}

export function hashesIds(model: string): boolean {
  return !PLAIN_ID_MODELS.has(model);
}

/** sha256 (base64url) of a token value: the storage key of a bearer artefact. */
export function sha256(value: string): string {
  return hash('sha256', value, 'base64url');
}

/** The key an item is stored under: sha256 of the id for bearer artefacts, else the id. */
export function storageKey(model: string, id: string): string {
  return hashesIds(model) ? sha256(id) : id;
}

/** What a backend stores for one item, with the columns/indexes derived from the payload. */
export interface StoredItem {
  key: string;
  /** Payload without `consumed` and, for hashed models, without `jti` (the raw token value). */
  payload: Record<string, unknown>;
  /** Epoch seconds when the payload arrived already consumed (re-save of a consumed model). */
  consumed: number | undefined;
  grantId: string | undefined;
  uid: string | undefined;
  userCode: string | undefined;
  accountId: string | undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function toStored(model: string, id: string, input: AdapterPayload): StoredItem {
  const { consumed, ...rest } = input as Record<string, unknown>;
  const payload: Record<string, unknown> = rest;
  if (hashesIds(model) && !KEEP_JTI_MODELS.has(model)) delete payload.jti;
  return {
    key: storageKey(model, id),
    payload,
    consumed: typeof consumed === 'number' ? consumed : consumed ? Math.floor(Date.now() / 1000) : undefined,
    grantId: str(payload.grantId),
    // Only sessions are looked up by uid (the engine's findByUid).
    uid: model === 'Session' ? str(payload.uid) : undefined,
    userCode: str(payload.userCode),
    accountId: str(payload.accountId),
  };
}

/**
 * Rebuilds the engine's payload. `id` is the raw id when the caller looked the item up by id;
 * lookups by uid or user code pass undefined and rely on a kept `jti`.
 */
export function fromStored(payload: Record<string, unknown>, id: string | undefined, consumed: number | undefined): AdapterPayload {
  const out: Record<string, unknown> = { ...payload };
  if (id !== undefined && out.jti === undefined) out.jti = id;
  if (consumed !== undefined) out.consumed = consumed;
  return out as AdapterPayload;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
