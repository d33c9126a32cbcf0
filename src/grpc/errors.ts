import { createHash, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AppError, type ProblemCode } from '../errors/index.ts';
import type { Logger } from '../observability/logger.ts';

/** AppError codes as gRPC status codes (contracts/grpc-metadata.md). */
const STATUS: Partial<Record<ProblemCode, grpc.status>> = {
  validation_failed: grpc.status.INVALID_ARGUMENT,
  malformed_body: grpc.status.INVALID_ARGUMENT,
  payload_too_large: grpc.status.INVALID_ARGUMENT,
  unauthorized: grpc.status.UNAUTHENTICATED,
  forbidden: grpc.status.PERMISSION_DENIED,
  not_found: grpc.status.NOT_FOUND,
  conflict: grpc.status.ALREADY_EXISTS,
  precondition_failed: grpc.status.FAILED_PRECONDITION,
  revision_not_visible: grpc.status.FAILED_PRECONDITION,
  rate_limited: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** The caller's correlation id when well-formed, else a fresh one. */
export function requestIdOf(md: grpc.Metadata): string {
  const v = md.get('iam-request-id')[0];
  return typeof v === 'string' && REQUEST_ID.test(v) ? v : randomUUID();
}

export function trailers(requestId: string, code?: ProblemCode): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('iam-request-id', requestId);
  if (code) md.set('iam-problem-code', code);
  return md;
}

/** Any thrown value as a gRPC error with the `iam-problem-code` trailer; internals stay opaque. */
export function toServiceError(err: unknown, requestId: string, logger: Logger): Partial<grpc.ServiceError> {
  if (err instanceof AppError && STATUS[err.code] !== undefined) {
    const params = err.invalidParams?.map((p) => `${p.name}: ${p.reason}`).join('; ');
    return {
      code: STATUS[err.code],
      details: params ? `${err.detail ?? err.message} (${params})` : (err.detail ?? err.message),
      metadata: trailers(requestId, err.code),
    };
  }
  logger.error({ err, request_id: requestId }, 'gRPC call failed');
  return { code: grpc.status.INTERNAL, details: '', metadata: trailers(requestId, 'internal') };
}

/** RFC 8705 thumbprint (x5t#S256) of the connection's client certificate, if any. */
export function peerThumbprint(call: { getAuthContext?: () => { sslPeerCertificate?: { raw?: Buffer } } | null }): string | undefined {
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  return raw?.length ? createHash('sha256').update(raw).digest('base64url') : undefined;
}
