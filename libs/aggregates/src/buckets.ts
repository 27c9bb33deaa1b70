import { durationMs, type GranularityTier } from '@mmctr/feature-repo';

/**
 * Bucket arithmetic of windowed aggregates (docs/features.md, "Aggregations"); the Python twin is
 * apps/trainer/mmctr_trainer/aggregates.py and both run test-vectors/buckets.json.
 *
 * Buckets of width `b` are aligned to the Unix epoch. The value of a window `W` as of time `t` counts the
 * events with `c - W <= ts < t`, `c = bucketStart(t, b)`: the `W / b` whole buckets before the one
 * holding `t`, plus that bucket's part before `t`.
 */
export const bucketStart = (tsMs: number, bucketMs: number): number => Math.floor(tsMs / bucketMs) * bucketMs;

/** `[from, to)`: the window counts events with `from <= ts < to`. */
export function windowRange(tMs: number, windowMs: number, bucketMs: number): [number, number] {
  return [bucketStart(tMs, bucketMs) - windowMs, tMs];
}

/** Starts of the buckets the window reads as of `t`, oldest first (the current one only when t is inside it). */
export function windowBuckets(tMs: number, windowMs: number, bucketMs: number): number[] {
  const [from, to] = windowRange(tMs, windowMs, bucketMs);
  const out: number[] = [];
  for (let s = from; s < to; s += bucketMs) out.push(s);
  return out;
}

/** The first time no window of a tier (`up_to`) reads the bucket starting at `startMs`. */
export const expireAt = (startMs: number, bucketMs: number, upToMs: number): number =>
  startMs + bucketMs + upToMs;

/** The first tier whose `up_to` covers the window (the repository checks that one exists). */
export function tierFor(windowMs: number, granularity: readonly GranularityTier[]): GranularityTier {
  const tier = granularity.find((t) => durationMs(t.up_to) >= windowMs);
  if (!tier) throw new Error(`no granularity tier covers a window of ${windowMs} ms`);
  return tier;
}

/** `(numerator + a) / (denominator + b)`, or `dflt` when that denominator is 0. */
export function smoothedRatio(
  numerator: number,
  denominator: number,
  smoothing: readonly [number, number],
  dflt: number,
): number {
  const [a, b] = smoothing;
  return denominator + b === 0 ? dflt : (numerator + a) / (denominator + b);
}
