import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { base64url, type JWK, type JWTPayload } from 'jose';

/**
 * The one thing token issuance needs from a key. Local keys sign in-process; a KMS/HSM
 * implementation keeps the private key remote and only has to return a JOSE-format signature.
 */
export interface Signer {
  kid: string;
  alg: string;
  publicJwk: JWK;
  /** Signs the JWS signing input; the result is the raw JOSE signature (r||s for ES256). */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export class LocalSigner implements Signer {
  readonly kid: string;
  readonly alg: string;
  readonly publicJwk: JWK;
  readonly #key: KeyObject;

  constructor(opts: { kid: string; alg: string; publicJwk: JWK; privateKey: KeyObject }) {
    if (opts.alg !== 'ES256' && opts.alg !== 'EdDSA') throw new TypeError(`LocalSigner does not support ${opts.alg}`);
    this.kid = opts.kid;
    this.alg = opts.alg;
    this.publicJwk = opts.publicJwk;
    this.#key = opts.privateKey;
  }

  static fromPkcs8(opts: { kid: string; alg: string; publicJwk: JWK; pkcs8: Buffer }): LocalSigner {
    const privateKey = createPrivateKey({ key: opts.pkcs8, format: 'der', type: 'pkcs8' });
    return new LocalSigner({ ...opts, privateKey });
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    // The callback form runs on the libuv thread pool: token issuance at high rates would otherwise spend
    // a large share of the event loop in ECDSA. JWS wants r||s, not the DER OpenSSL produces by default.
    const key = this.alg === 'ES256' ? { key: this.#key, dsaEncoding: 'ieee-p1363' as const } : this.#key;
    return new Promise((resolve, reject) => {
      sign(this.alg === 'ES256' ? 'sha256' : null, data, key, (err, signature) => (err ? reject(err) : resolve(signature)));
    });
  }
}

const encodeJson = (v: unknown) => base64url.encode(JSON.stringify(v));

/** A compact JWS over `payload`; `alg` and `kid` always come from the signer. */
export async function signJwt(signer: Signer, header: Record<string, unknown>, payload: JWTPayload): Promise<string> {
  const input = `${encodeJson({ ...header, alg: signer.alg, kid: signer.kid })}.${encodeJson(payload)}`;
  const signature = await signer.sign(new TextEncoder().encode(input));
  return `${input}.${base64url.encode(signature)}`;
}
