import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, randomBytes, type ScryptOptions, scrypt } from 'node:crypto';
import type { JWK } from 'jose';
import { z } from 'zod';
import type { Knex } from '../db/knex.ts';
import { openPrivateKey, sealPrivateKey } from './envelope.ts';
import { KeyError } from './errors.ts';
import { publicMembers } from './generate.ts';
import { addSeconds, KEY_PURPOSES, KEY_STATES, type KeyState, type SigningKey } from './lifecycle.ts';
import { assertSameKek } from './operations.ts';
import { insertKey, selectKeys, withKeyLock } from './store.ts';

/**
 * Escrow: the whole key set (private keys included) as one passphrase-encrypted JSON document,
 * independent of the KEK, so a backup survives the loss or rotation of the KEK.
 */
export const MIN_PASSPHRASE_LENGTH = 12;
// OWASP scrypt baseline (N=2^17, r=8, p=1): ~128 MiB and a fraction of a second per attempt.
const KDF = { N: 2 ** 17, r: 8, p: 1 } as const;

const b64u = z.string().regex(/^[A-Za-z0-9_-]*$/);
const bundleSchema = z.object({
  format: z.literal('iam-key-escrow'),
  v: z.literal(1),
  created_at: z.string(),
  // Bounds keep a hostile bundle from asking for gigabytes of scrypt memory.
  kdf: z.object({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(2 ** 14)
      .max(2 ** 20)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: b64u,
  }),
  iv: b64u,
  tag: b64u,
  ciphertext: b64u,
});
export type EscrowBundle = z.infer<typeof bundleSchema>;

const date = z.iso.datetime().nullable();
const escrowKeySchema = z.object({
  kid: z.string().min(1),
  purpose: z.enum(KEY_PURPOSES),
  alg: z.string().min(1),
  state: z.enum(KEY_STATES).exclude(['removed']),
  public_jwk: z.record(z.string(), z.unknown()),
  private_pkcs8: b64u.nullable(),
  signer: z.string().min(1),
  created_at: z.iso.datetime(),
  activates_at: z.iso.datetime(),
  activated_at: date,
  retired_at: date,
  remove_after: date,
  revoked_at: date,
  revoke_reason: z.string().nullable(),
});
const payloadSchema = z.object({ keys: z.array(escrowKeySchema) });
type EscrowKey = z.infer<typeof escrowKeySchema>;

export interface EscrowImportResult {
  imported: number;
  skipped: number;
  /** Imported active keys that met an active key of the same purpose: kept published as retired. */
  demoted: number;
  kids: string[];
}

function assertPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new KeyError('passphrase_too_short', `escrow passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
}

function deriveKey(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 };
  return new Promise((ok, fail) => scrypt(passphrase.normalize('NFC'), salt, 32, opts, (err, key) => (err ? fail(err) : ok(key))));
}

/** The header is authenticated too: editing the KDF parameters or the date breaks decryption. */
const headerAad = (b: Pick<EscrowBundle, 'format' | 'v' | 'created_at' | 'kdf'>) =>
  Buffer.from(JSON.stringify([b.format, b.v, b.created_at, b.kdf]));

const iso = (d: Date | null) => d?.toISOString() ?? null;

type ExportableKey = SigningKey & { state: Exclude<KeyState, 'removed'> };
const exportable = (k: SigningKey): k is ExportableKey => k.state !== 'removed';

function toEscrowKey(k: ExportableKey, kek: Buffer): EscrowKey {
  return {
    kid: k.kid,
    purpose: k.purpose,
    alg: k.alg,
    state: k.state,
    public_jwk: k.publicJwk as Record<string, unknown>,
    private_pkcs8: k.envelope ? openPrivateKey(kek, k.kid, k.envelope).toString('base64url') : null,
    signer: k.signer,
    created_at: k.createdAt.toISOString(),
    activates_at: k.activatesAt.toISOString(),
    activated_at: iso(k.activatedAt),
    retired_at: iso(k.retiredAt),
    remove_after: iso(k.removeAfter),
    revoked_at: iso(k.revokedAt),
    revoke_reason: k.revokeReason,
  };
}

/** Every non-removed key, private halves decrypted under `kek` and re-encrypted under the passphrase. */
export async function exportEscrow(db: Knex, kek: Buffer, passphrase: string, opts: { now?: Date } = {}): Promise<EscrowBundle> {
  assertPassphrase(passphrase);
  const keys = (await selectKeys(db)).filter(exportable).map((k) => toEscrowKey(k, kek));
  const header = { format: 'iam-key-escrow', v: 1, created_at: (opts.now ?? new Date()).toISOString() } as const;
  const salt = randomBytes(16);
  const kdf = { name: 'scrypt', ...KDF, salt: salt.toString('base64url') } as const;
  const key = await deriveKey(passphrase, salt, KDF);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(headerAad({ ...header, kdf }));
  const ciphertext = Buffer.concat([c.update(JSON.stringify({ keys })), c.final()]);
  return {
    ...header,
    kdf,
    iv: iv.toString('base64url'),
    tag: c.getAuthTag().toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
  };
}

async function decryptBundle(input: unknown, passphrase: string): Promise<EscrowKey[]> {
  const parsed = bundleSchema.safeParse(input);
  if (!parsed.success) throw new KeyError('escrow_invalid', `not an iam-key-escrow v1 bundle: ${z.prettifyError(parsed.error)}`);
  const b = parsed.data;
  const key = await deriveKey(passphrase, Buffer.from(b.kdf.salt, 'base64url'), b.kdf);
  let plaintext: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(b.iv, 'base64url'));
    d.setAAD(headerAad(b));
    d.setAuthTag(Buffer.from(b.tag, 'base64url'));
    plaintext = Buffer.concat([d.update(Buffer.from(b.ciphertext, 'base64url')), d.final()]);
  } catch (cause) {
    throw new KeyError('escrow_passphrase', 'escrow bundle could not be decrypted: wrong passphrase, or the bundle was modified', {
      cause,
    });
  }
  const payload = payloadSchema.safeParse(JSON.parse(plaintext.toString('utf8')));
  if (!payload.success) throw new KeyError('escrow_invalid', `escrow bundle content is malformed: ${z.prettifyError(payload.error)}`);
  return payload.data.keys;
}

/** A bundle whose private key does not belong to its public key would sign unverifiable tokens. */
function matchingPrivateKey(k: EscrowKey, pkcs8: string): Buffer {
  const der = Buffer.from(pkcs8, 'base64url');
  const derived = publicMembers(
    createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }) as JWK,
  );
  const stated = publicMembers(k.public_jwk as JWK);
  if (JSON.stringify(derived) !== JSON.stringify(stated)) {
    throw new KeyError('escrow_invalid', `escrow key ${k.kid}: private key does not match its public key`);
  }
  return der;
}

const toDate = (s: string | null) => (s === null ? null : new Date(s));

/**
 * Restores a bundle under the target KEK in one transaction (existing kids are skipped).
 * Everything is decrypted before the first write, so a wrong passphrase writes nothing.
 */
export async function importEscrow(
  db: Knex,
  kek: Buffer,
  bundle: unknown,
  passphrase: string,
  opts: { now?: Date; retireGraceS?: number } = {},
): Promise<EscrowImportResult> {
  const keys = await decryptBundle(bundle, passphrase);
  const now = opts.now ?? new Date();
  return withKeyLock(db, async (trx) => {
    const existing = await selectKeys(trx, { includeRemoved: true });
    assertSameKek(existing, kek);
    const taken = new Set(existing.filter((k) => k.state === 'active' || k.state === 'pending').map((k) => `${k.purpose}:${k.state}`));
    const result: EscrowImportResult = { imported: 0, skipped: 0, demoted: 0, kids: [] };
    for (const k of keys) {
      const slot = `${k.purpose}:${k.state}`;
      // A pending key never signed anything, so a target that already waits on its own loses nothing.
      if (k.state === 'pending' && taken.has(slot)) {
        result.skipped++;
        continue;
      }
      const demote = k.state === 'active' && taken.has(slot);
      const inserted = await insertKey(trx, {
        kid: k.kid,
        purpose: k.purpose,
        alg: k.alg,
        state: demote ? 'retired' : k.state,
        publicJwk: k.public_jwk as JWK,
        envelope: k.private_pkcs8 ? sealPrivateKey(kek, k.kid, matchingPrivateKey(k, k.private_pkcs8)) : null,
        signer: k.signer,
        createdAt: new Date(k.created_at),
        activatesAt: new Date(k.activates_at),
        activatedAt: toDate(k.activated_at),
        retiredAt: demote ? now : toDate(k.retired_at),
        removeAfter: demote ? addSeconds(now, opts.retireGraceS ?? 86_400) : toDate(k.remove_after),
        removedAt: null,
        revokedAt: toDate(k.revoked_at),
        revokeReason: k.revoke_reason,
      });
      if (!inserted) {
        result.skipped++;
        continue;
      }
      if (k.state === 'active' || k.state === 'pending') taken.add(slot);
      result.imported++;
      if (demote) result.demoted++;
      result.kids.push(k.kid);
    }
    return result;
  });
}
