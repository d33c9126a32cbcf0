import { crc32 } from 'node:zlib';

/**
 * Every key belongs to one of LANE_COUNT lanes; a relay instance publishes only the lanes it
 * holds an advisory lock on, so all events of a key go through one instance at a time.
 * The hash is part of the stored data (`outbox_events.lane`, checked 0..31 by the migration):
 * changing LANE_COUNT needs a drained outbox and a migration.
 */
export const LANE_COUNT = 32;

export function laneOf(key: string): number {
  return crc32(key) % LANE_COUNT;
}
