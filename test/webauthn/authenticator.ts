import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * A software WebAuthn authenticator plus the client (browser) half, so the ceremonies can be
 * tested without a browser: it builds clientDataJSON, authenticator data (rpIdHash, flags,
 * signCount, attested credential data with a COSE key), a `none` attestation object and
 * assertion signatures over authData ‖ SHA-256(clientDataJSON). CBOR is encoded by hand for the
 * few shapes needed (RFC 8949 deterministic: shortest heads).
 */

type CborValue = number | string | Uint8Array | Map<CborValue, CborValue>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(v: CborValue): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, s.length), s]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), Buffer.from(v)]);
  const parts: Buffer[] = [head(5, v.size)];
  for (const [k, val] of v) parts.push(cbor(k), cbor(val));
  return Buffer.concat(parts);
}

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

export const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;

export type Alg = 'ES256' | 'EdDSA';

interface HeldCredential {
  id: Buffer;
  alg: Alg;
  privateKey: KeyObject;
  cose: Buffer;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface AuthenticatorOptions {
  /** The origin the simulated browser page runs on. */
  origin: string;
  alg?: Alg;
  /** Backup eligible (a synced passkey): BE flag. */
  backupEligible?: boolean;
  backedUp?: boolean;
  /** Performs user verification (PIN/biometric): UV flag. */
  userVerifying?: boolean;
  /** Added to the credential's counter on every assertion; 0 = no counter (as synced passkeys). */
  counterStep?: number;
  aaguid?: Buffer;
  transports?: string[];
}

export interface CeremonyOverrides {
  origin?: string;
  /** The RP ID whose hash the authenticator puts into authData. */
  rpId?: string;
  challenge?: string;
  type?: string;
  uv?: boolean;
  up?: boolean;
  be?: boolean;
  bs?: boolean;
}

export interface AssertionOverrides extends CeremonyOverrides {
  /** Use this held credential (base64url id) instead of choosing one. */
  credentialId?: string;
  /** Report this signCount (and remember it). */
  counter?: number;
  /** The userHandle to return; null omits it. Default: the handle stored at registration. */
  userHandle?: string | null;
  /** Flip a bit of the signature. */
  corruptSignature?: boolean;
}

export class SoftwareAuthenticator {
  readonly opts: Required<Omit<AuthenticatorOptions, 'aaguid' | 'transports'>> & { aaguid: Buffer; transports: string[] };
  readonly credentials = new Map<string, HeldCredential>();

  constructor(opts: AuthenticatorOptions) {
    this.opts = {
      alg: 'ES256',
      backupEligible: false,
      backedUp: false,
      userVerifying: true,
      counterStep: 1,
      ...opts,
      aaguid: opts.aaguid ?? randomBytes(16),
      transports: opts.transports ?? ['usb'],
    };
  }

  #flags(o: CeremonyOverrides, attested: boolean): number {
    const be = o.be ?? this.opts.backupEligible;
    const bs = o.bs ?? (be && this.opts.backedUp);
    return (
      ((o.up ?? true) ? FLAG.UP : 0) |
      ((o.uv ?? this.opts.userVerifying) ? FLAG.UV : 0) |
      (be ? FLAG.BE : 0) |
      (bs ? FLAG.BS : 0) |
      (attested ? FLAG.AT : 0)
    );
  }

  #clientData(type: string, challenge: string, o: CeremonyOverrides): Buffer {
    return Buffer.from(
      JSON.stringify({
        type: o.type ?? type,
        challenge: o.challenge ?? challenge,
        origin: o.origin ?? this.opts.origin,
        crossOrigin: false,
      }),
    );
  }

  /** navigator.credentials.create() with a fresh key pair: returns the browser's RegistrationResponseJSON. */
  create(options: PublicKeyCredentialCreationOptionsJSON, o: CeremonyOverrides & { alg?: Alg } = {}): RegistrationResponseJSON {
    const alg = o.alg ?? this.opts.alg;
    const rpId = o.rpId ?? options.rp.id ?? new URL(this.opts.origin).hostname;
    const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    const cose =
      alg === 'ES256'
        ? cbor(
            new Map<CborValue, CborValue>([
              [1, 2],
              [3, -7],
              [-1, 1],
              [-2, Buffer.from(jwk.x as string, 'base64url')],
              [-3, Buffer.from(jwk.y as string, 'base64url')],
            ]),
          )
        : cbor(
            new Map<CborValue, CborValue>([
              [1, 1],
              [3, -8],
              [-1, 6],
              [-2, Buffer.from(jwk.x as string, 'base64url')],
            ]),
          );
    const id = randomBytes(32);
    const counter = 0;
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.#flags(o, true)]), count, this.opts.aaguid, idLen, id, cose]);
    const attestationObject = cbor(
      new Map<CborValue, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    this.credentials.set(b64u(id), { id, alg, privateKey, cose, rpId, userHandle: options.user.id, counter });
    const clientDataJSON = this.#clientData('webauthn.create', options.challenge, o);
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
        transports: this.opts.transports as RegistrationResponseJSON['response']['transports'],
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {},
    };
  }

  /** navigator.credentials.get(): picks an allowed (or, with an empty allow list, any discoverable) credential for the RP. */
  get(options: PublicKeyCredentialRequestOptionsJSON, o: AssertionOverrides = {}): AuthenticationResponseJSON {
    const rpId = options.rpId ?? new URL(this.opts.origin).hostname;
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const cred =
      (o.credentialId ? this.credentials.get(o.credentialId) : undefined) ??
      [...this.credentials.values()].find((c) => c.rpId === rpId && (allowed.length === 0 || allowed.includes(b64u(c.id))));
    if (!cred) throw new Error('NotAllowedError: no credential for this RP');
    cred.counter = o.counter ?? cred.counter + this.opts.counterStep;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(cred.counter);
    const authData = Buffer.concat([sha256(o.rpId ?? cred.rpId), Buffer.from([this.#flags(o, false)]), count]);
    const clientDataJSON = this.#clientData('webauthn.get', options.challenge, o);
    const data = Buffer.concat([authData, sha256(clientDataJSON)]);
    const signature = cred.alg === 'ES256' ? sign('sha256', data, cred.privateKey) : sign(null, data, cred.privateKey);
    if (o.corruptSignature) signature[signature.length - 1] = (signature[signature.length - 1] as number) ^ 0x01;
    const userHandle = o.userHandle === undefined ? cred.userHandle : o.userHandle;
    return {
      id: b64u(cred.id),
      rawId: b64u(cred.id),
      type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {},
    };
  }

  /** The only held credential's base64url id (most tests register one). */
  get credentialId(): string {
    const [id] = this.credentials.keys();
    if (!id) throw new Error('no credential');
    return id;
  }
}
