import { createHash } from 'node:crypto';
import { AppError } from '../errors/index.ts';

/**
 * Strong entity tags for updatable resources: a digest of the representation the client
 * receives, so any visible change (including updated_at) changes the tag.
 */
export function etagOf(representation: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(representation)).digest('base64url').slice(0, 27);
  return `"${digest}"`;
}

/**
 * RFC 9110 §13.1.1 If-Match against the current tag. `required` makes a missing header a 428
 * (RFC 6585): updates must say which version they change, so a lost update cannot happen by
 * omission. Weak tags never match (strong comparison).
 */
export function checkIfMatch(header: string | undefined, current: string, required: boolean): void {
  const value = header?.trim();
  if (!value) {
    if (required) {
      throw new AppError('precondition_required', { detail: 'send If-Match with the ETag of the version you are changing' });
    }
    return;
  }
  if (value === '*') return;
  const tags = value.split(',').map((t) => t.trim());
  if (!tags.includes(current)) {
    throw new AppError('precondition_failed', { detail: 'the resource changed since you read it; fetch it again' });
  }
}
