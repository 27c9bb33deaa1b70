import { durationMs, type GranularityTier } from '@mmctr/feature-repo';

/**
 * Bucket arithmetic of windowed aggregates (docs/features.md, "Aggregations"); the Python twin is
 * apps/trainer/mmctr_trainer/aggregates.py and both run test-vectors/buckets.json.
 *
 * Buckets of width `b` are aligned to the Unix epoch. The value of a window `W` as of time `t` counts the
 * events with `c - W <= ts < c`, `c = bucketStart(t, b)`: the `W / b` closed buckets before the one
 * holding `t`. The bucket still open at `t` never counts, so the value is the same for every `t` in
 * `[c, c + b)` and no event ingested after `c` (a replayed request) can change it.
 */
export const bucketStart = (tsMs: number, bucketMs: number): number => Math.floor(tsMs / bucketMs) * bucketMs;

/** `[from, to)`: the window counts events with `from <= ts < to`. */
export function windowRange(tMs: number, windowMs: number, bucketMs: number): [number, number] {
  const c = bucketStart(tMs, bucketMs);
  return [c - windowMs, c];
}

/** Starts of the `W / b` buckets the window reads as of `t`, oldest first (never the one holding `t`). */
export function windowBuckets(tMs: number, windowMs: number, bucketMs: number): number[] {
  const [from, to] = windowRange(tMs, windowMs, bucketMs);
  const out: number[] = [];
  for (let s = from; s < to; s += bucketMs) out.push(s);
  return out;
}

/**
 * When the bucket starting at `startMs` expires: one bucket after the first time no window of its tier
 * (`up_to`) reads it as of the current time. The slack keeps a window whole for a read that lands after
 * the boundary that follows its t (request latency, a client's ts_ms slightly in the past, a Redis clock
 * ahead): a read as of any t in bucket `c` finds every bucket it needs until `c + 2b`.
 */
export const expireAt = (startMs: number, bucketMs: number, upToMs: number): number =>
  startMs + 2 * bucketMs + upToMs;

/** The first tier whose `up_to` covers the window (the repository checks that one exists). */
export function tierFor(windowMs: number, granularity: readonly GranularityTier[]): GranularityTier {
  const tier = granularity.find((t) => durationMs(t.up_to) >= windowMs);
  if (!tier) throw new Error(`no granularity tier covers a window of ${windowMs} ms`);
  return tier;
}

/** A window's length and the width of the buckets it is counted in (its tier's), in ms. */
export function windowSpan(
  window: string,
  granularity: readonly GranularityTier[] = [],
): { windowMs: number; bucketMs: number } {
  const windowMs = durationMs(window);
  return { windowMs, bucketMs: durationMs(tierFor(windowMs, granularity).bucket) };
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
