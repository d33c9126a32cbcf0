import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

/**
 * argon2id password hashing (ADR-0012). Parameters are the `{ m, t, p }` shape stored beside
 * each hash in `password_credentials.params`: memory in KiB, iterations, lanes.
 */
export interface Argon2Params {
  m: number;
  t: number;
  p: number;
}

/** OWASP's argon2id baseline (m=19 MiB, t=2, p=1); `auth.argon2_*` configures the live values. */
export const DEFAULT_ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({ m: 19_456, t: 2, p: 1 });

/** The `auth.argon2_*` configuration keys as parameters. */
export function argon2ParamsFromConfig(auth: {
  argon2_memory_kib: number;
  argon2_iterations: number;
  argon2_parallelism: number;
}): Argon2Params {
  return { m: auth.argon2_memory_kib, t: auth.argon2_iterations, p: auth.argon2_parallelism };
}

/**
 * The form of a password that is measured, checked and hashed: lone surrogates replaced
 * (U+FFFD, as a browser would have sent them) and NFKC-normalised, so the same password typed on
 * different keyboards or input methods verifies. Nothing is trimmed or truncated.
 */
export function normalizePassword(password: string): string {
  return password.toWellFormed().normalize('NFKC');
}

export interface ParsedArgon2Hash {
  algorithm: string;
  version: number;
  params: Argon2Params;
}

/** Reads algorithm, version and `{ m, t, p }` from a PHC string; undefined when malformed. */
export function parseArgon2Hash(stored: string): ParsedArgon2Hash | undefined {
  const parts = stored.split('$');
  // ['', 'argon2id', 'v=19', 'm=..,t=..,p=..', salt, hash]
  if (parts.length !== 6 || parts[0] !== '') return undefined;
  const [, algorithm, versionPart, paramPart] = parts as [string, string, string, string];
  const version = /^v=(\d+)$/.exec(versionPart)?.[1];
  if (!version) return undefined;
  const fields = new Map(paramPart.split(',').map((kv) => kv.split('=') as [string, string]));
  const num = (k: string) => (/^\d+$/.test(fields.get(k) ?? '') ? Number(fields.get(k)) : Number.NaN);
  const params = { m: num('m'), t: num('t'), p: num('p') };
  if (Object.values(params).some((v) => !Number.isSafeInteger(v))) return undefined;
  return { algorithm, version: Number(version), params };
}

/** True when a stored hash was made with another algorithm, version or parameters than `params`. */
export function hashNeedsRehash(stored: string, params: Argon2Params): boolean {
  const parsed = parseArgon2Hash(stored);
  if (!parsed) return true;
  return (
    parsed.algorithm !== 'argon2id' ||
    parsed.version !== 0x13 ||
    parsed.params.m !== params.m ||
    parsed.params.t !== params.t ||
    parsed.params.p !== params.p
  );
}

/** argon2id hash (PHC string) of the normalised password, with the parameters it used. */
export async function hashPassword(
  password: string,
  params: Argon2Params = DEFAULT_ARGON2_PARAMS,
): Promise<{ hash: string; params: Argon2Params }> {
  const hash = await argon2.hash(normalizePassword(password), {
    type: argon2.argon2id,
    memoryCost: params.m,
    timeCost: params.t,
    parallelism: params.p,
  });
  return { hash, params: { m: params.m, t: params.t, p: params.p } };
}

export interface VerifyResult {
  ok: boolean;
  /** The password matched a hash made with other parameters than the current ones: store a new hash. */
  needsRehash: boolean;
}

/** Verifies a password against a stored PHC string. A malformed hash verifies nothing (never throws). */
export async function verifyPassword(
  stored: string,
  password: string,
  params: Argon2Params = DEFAULT_ARGON2_PARAMS,
): Promise<VerifyResult> {
  let ok = false;
  try {
    ok = await argon2.verify(stored, normalizePassword(password));
  } catch {
    ok = false;
  }
  return { ok, needsRehash: ok && hashNeedsRehash(stored, params) };
}

/**
 * Hashing bound to the configured parameters, with a dummy hash made at start-up with those same
 * parameters: `verifyDummy` costs what a wrong password costs, so an unknown, disabled or locked
 * account is not told apart by timing (ADR-0012).
 */
export interface PasswordHasher {
  readonly params: Readonly<Argon2Params>;
  hash(password: string): Promise<{ hash: string; params: Argon2Params }>;
  verify(stored: string, password: string): Promise<VerifyResult>;
  /** Spends one verification on a hash nobody knows the password of; always `{ ok: false }`. */
  verifyDummy(password: string): Promise<VerifyResult>;
}

export async function createPasswordHasher(params: Argon2Params = DEFAULT_ARGON2_PARAMS): Promise<PasswordHasher> {
  const current = Object.freeze({ m: params.m, t: params.t, p: params.p });
  const dummy = (await hashPassword(randomBytes(32).toString('base64url'), current)).hash;
  return {
    params: current,
    hash: (password) => hashPassword(password, current),
    verify: (stored, password) => verifyPassword(stored, password, current),
    async verifyDummy(password) {
      await verifyPassword(dummy, password, current);
      return { ok: false, needsRehash: false };
    },
  };
}
