/** Stable problem codes; `contracts/errors.md` documents each one and a test keeps them in sync. */
export const problemCatalogue = {
  validation_failed: { status: 400, title: 'Request validation failed' },
  malformed_body: { status: 400, title: 'Request body could not be parsed' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  not_found: { status: 404, title: 'Resource not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict with the current state' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  precondition_required: { status: 428, title: 'Precondition required' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused with a different request' },
  invitation_expired: { status: 410, title: 'Invitation expired' },
  invitation_already_accepted: { status: 410, title: 'Invitation already accepted' },
  invitation_revoked: { status: 410, title: 'Invitation revoked' },
  invitation_wrong_account: { status: 403, title: 'Invitation is for another account' },
  revision_not_visible: { status: 409, title: 'Authorization revision not yet visible' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const;

export type ProblemCode = keyof typeof problemCatalogue;

export const problemTypeUri = (code: ProblemCode) => `urn:infranotes:iam:problem:${code}`;

export interface InvalidParam {
  name: string;
  reason: string;
}

export interface AppErrorOptions {
  detail?: string;
  cause?: unknown;
  invalidParams?: InvalidParam[];
  /** Extra RFC 7807 extension members. */
  extensions?: Record<string, unknown>;
}

/**
 * The one error type domain code throws. Status and title come from the catalogue;
 * `expose` is false for 5xx so internal detail never reaches a client.
 */
export class AppError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly expose: boolean;
  readonly detail?: string;
  readonly invalidParams?: InvalidParam[];
  readonly extensions?: Record<string, unknown>;

  constructor(code: ProblemCode, opts: AppErrorOptions = {}) {
    super(opts.detail ?? problemCatalogue[code].title, { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = problemCatalogue[code].status;
    this.expose = this.status < 500;
    this.detail = opts.detail;
    this.invalidParams = opts.invalidParams;
    this.extensions = opts.extensions;
  }
}

/** Configuration problems stop start-up with a message naming the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Invariant broken by our own code (never by a client). */
export class InternalError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'InternalError';
  }
}
