export { type AuditEvent, recordAudit } from './record.ts';
export { type ChainVerification, verifyAuditChains } from './verify.ts';
