/**
 * Nearest-rank percentile of ascending `sorted` values, `p` in [0, 100] (p50 of [1, 2] is 1, p99 of
 * 100 values is the 99th): one definition for every benchmark and report. NaN when empty.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
