// Generic cryptographic helpers for secrets at rest (ADR-0013).
export {
  deriveKekSecret,
  EnvelopeError,
  type EnvelopeErrorReason,
  envelopeKekId,
  openEnvelope,
  rewrapEnvelope,
  type SealedEnvelope,
  sealEnvelope,
} from './envelope.ts';
