import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import type { Signer } from '../keys/index.ts';

/** Lets the engine sign through our Signer (local key today, KMS tomorrow) without seeing private keys. */
export class EngineSigningKey extends ExternalSigningKey {
  readonly #signer: Signer;
  readonly #public: KeyObject;

  constructor(signer: Signer) {
    super();
    this.#signer = signer;
    this.#public = createPublicKey({ key: signer.publicJwk as JsonWebKey, format: 'jwk' });
    // The typings declare these read-only; the engine's base class defines setters for them.
    const self = this as { kid: string; alg: string };
    self.kid = signer.kid;
    self.alg = signer.alg;
  }

  override keyObject(): KeyObject {
    return this.#public;
  }

  override async sign(data: Uint8Array): Promise<Uint8Array> {
    return this.#signer.sign(data);
  }
}
