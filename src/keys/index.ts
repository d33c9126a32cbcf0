// Issuer signing keys (ADR-0004): the module's only public surface.
export { kekId, openPrivateKey, type PrivateKeyEnvelope, sealPrivateKey } from './envelope.ts';
export { KeyError, type KeyErrorReason } from './errors.ts';
export { type EscrowBundle, type EscrowImportResult, exportEscrow, importEscrow, MIN_PASSPHRASE_LENGTH } from './escrow.ts';
export { DEV_KEK_FILE, resolveKek } from './kek.ts';
export {
  ALG_BY_PURPOSE,
  isPublishable,
  KEY_PURPOSES,
  KEY_STATES,
  type KeyChange,
  type KeyPurpose,
  type KeyState,
  type KeyTimings,
  type SigningKey,
} from './lifecycle.ts';
export { listKeys } from './operations.ts';
export { createKeyService, type KeyService, type KeyServiceOptions, type KeySetChange } from './service.ts';
export { LocalSigner, type Signer, signJwt } from './signer.ts';
export { KEY_CHANGE_CHANNEL, KEY_LOCK_NAME } from './store.ts';
export type { KeySummary, VerificationKey } from './views.ts';
