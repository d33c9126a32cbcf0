/** The p-th percentile of sorted values (nearest rank, 0 when empty). */
export const percentileOf = (sorted: number[], p: number): number =>
  sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) : 0;
