import type { Logger } from '../observability/logger.ts';

/**
 * A background job on a fixed period that never overlaps itself and never keeps the process
 * alive; a failing run is logged and the next one still happens.
 */
export function every(periodMs: number, job: () => Promise<void>, logger: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      await job();
    } catch (err) {
      logger.warn({ err }, 'background job failed');
    } finally {
      running = false;
    }
  }, periodMs).unref();
  return { stop: () => clearInterval(timer) };
}
