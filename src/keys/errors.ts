import { AppError, type ProblemCode } from '../errors/index.ts';

/** Stable reasons callers (CLI, tests, HTTP) can switch on. */
export type KeyErrorReason =
  | 'kek_mismatch'
  | 'envelope_invalid'
  | 'escrow_invalid'
  | 'escrow_passphrase'
  | 'passphrase_too_short'
  | 'key_not_found'
  | 'key_already_revoked'
  | 'no_active_key'
  | 'signer_unavailable';

const problemFor: Record<KeyErrorReason, ProblemCode> = {
  kek_mismatch: 'internal',
  envelope_invalid: 'internal',
  escrow_invalid: 'validation_failed',
  escrow_passphrase: 'validation_failed',
  passphrase_too_short: 'validation_failed',
  key_not_found: 'not_found',
  key_already_revoked: 'conflict',
  no_active_key: 'unavailable',
  signer_unavailable: 'internal',
};

/** Every failure of the keys module; `reason` is the stable code, `message` says what to do. */
export class KeyError extends AppError {
  readonly reason: KeyErrorReason;

  constructor(reason: KeyErrorReason, message: string, opts: { cause?: unknown } = {}) {
    super(problemFor[reason], { detail: message, cause: opts.cause, extensions: { reason } });
    this.name = 'KeyError';
    this.reason = reason;
  }
}
