import { z } from 'zod';
import { AppError } from '../errors/index.ts';

/**
 * Opaque cursors for keyset pagination over uuidv7 ids (creation order). The cursor only
 * carries the last id seen; every query stays scoped to the caller's tenant, so a forged
 * cursor can move the starting point but never widen what the caller may list.
 */

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().max(200).optional(),
};

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after: lastId })).toString('base64url');
}

/** The id to continue after; a cursor we did not issue is a client error, never a silent restart. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: unknown; after?: unknown };
    if (parsed.v === 1 && typeof parsed.after === 'string' && UUID.test(parsed.after)) return parsed.after;
  } catch {
    // falls through to the problem below
  }
  throw new AppError('validation_failed', {
    detail: 'the cursor is not one this API issued',
    invalidParams: [{ name: 'query.cursor', reason: 'malformed cursor' }],
  });
}

/**
 * Turns `limit + 1` fetched rows (ordered by id) into a page: the extra row only proves that
 * another page exists.
 */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, map: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(map), next_cursor: more && last ? encodeCursor(last.id) : null };
}
