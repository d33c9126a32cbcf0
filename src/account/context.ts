/** Request context of an account change, recorded with its audit event (never a secret). */
export interface AccountContext {
  requestId?: string;
  /** A valid IP address only (see `validIp`); anything else is left out. */
  ip?: string;
  userAgent?: string;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
