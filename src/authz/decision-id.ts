import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(POOL_IDS * 10);
let next = POOL_IDS;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A UUIDv7 (RFC 9562) per decision: time-ordered, so ids logged by several instances sort by
 * when they were decided. Random bytes come from a pooled buffer because one `randomBytes`
 * call per check costs more than the check itself.
 */
export function decisionId(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const r = next++ * 10;
  const b = new Array<string>(16);
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    b[i] = HEX[ms % 256] as string;
    ms = Math.floor(ms / 256);
  }
  b[6] = HEX[0x70 | ((pool[r] as number) & 0x0f)] as string;
  b[7] = HEX[pool[r + 1] as number] as string;
  b[8] = HEX[0x80 | ((pool[r + 2] as number) & 0x3f)] as string;
  for (let i = 9; i < 16; i++) b[i] = HEX[pool[r + i - 6] as number] as string;
  return `${b[0]}${b[1]}${b[2]}${b[3]}-${b[4]}${b[5]}-${b[6]}${b[7]}-${b[8]}${b[9]}-${b[10]}${b[11]}${b[12]}${b[13]}${b[14]}${b[15]}`;
}
