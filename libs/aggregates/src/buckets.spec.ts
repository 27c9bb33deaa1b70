import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { durationMs, type GranularityTier } from '@mmctr/feature-repo';
import {
  bucketStart,
  expireAt,
  smoothedRatio,
  tierFor,
  windowBuckets,
  windowRange,
  windowSpan,
} from './buckets';

interface Vectors {
  durations: { text: string; ms: number }[];
  invalid_durations: string[];
  bucket_start: { ts: number; bucket: number; start: number }[];
  windows: {
    case: string;
    t: number;
    window: number;
    bucket: number;
    from: number;
    to: number;
    count: number;
    first: number;
    last: number;
  }[];
  tiers: { window: string; granularity: GranularityTier[]; bucket: string }[];
  expire_at: { start: number; bucket: number; up_to: number; expire_at: number }[];
  ratios: {
    numerator: number;
    denominator: number;
    smoothing: [number, number];
    default: number;
    value: number;
  }[];
  scenario: { events: number[]; queries: { t: number; window: number; bucket: number; count: number }[] };
}

// The Python twin (apps/trainer/tests/test_aggregates.py) runs the same file.
const V = JSON.parse(readFileSync(join(__dirname, '..', 'test-vectors', 'buckets.json'), 'utf8')) as Vectors;

describe('bucket arithmetic: shared golden vectors', () => {
  it.each(V.durations)('duration $text', ({ text, ms }) => expect(durationMs(text)).toBe(ms));

  it.each(V.invalid_durations)('refuses duration %s, naming it', (text) => {
    expect(() => durationMs(text)).toThrow(`invalid duration '${text}'`);
  });

  it.each(V.bucket_start)('bucket of $ts in $bucket ms buckets', ({ ts, bucket, start }) => {
    expect(bucketStart(ts, bucket)).toBe(start);
  });

  it.each(V.windows)('$case', (v) => {
    expect(windowRange(v.t, v.window, v.bucket)).toEqual([v.from, v.to]);
    const buckets = windowBuckets(v.t, v.window, v.bucket);
    expect([buckets.length, buckets[0], buckets[buckets.length - 1]]).toEqual([v.count, v.first, v.last]);
    // A bucket lives one bucket longer than some t reads it: the last t reading it is expireAt - b - 1.
    const oldest = buckets[0]!;
    const gone = expireAt(oldest, v.bucket, v.window);
    expect(windowBuckets(gone - v.bucket - 1, v.window, v.bucket)).toContain(oldest);
    expect(windowBuckets(gone - v.bucket, v.window, v.bucket)).not.toContain(oldest);
    // So a read as of any t of t's bucket that lands up to one bucket after that bucket ends (request
    // latency, a client's ts_ms in the past, a Redis clock ahead) still finds every bucket it sums.
    const c = bucketStart(v.t, v.bucket);
    for (const t of [c, v.t, c + v.bucket - 1]) {
      const landsAt = c + 2 * v.bucket - 1;
      expect(
        windowBuckets(t, v.window, v.bucket).every((s) => expireAt(s, v.bucket, v.window) > landsAt),
      ).toBe(true);
    }
    expect(gone).toBe(c + 2 * v.bucket);
    // Closed buckets only: the same buckets for every t of t's bucket, none at or after its start.
    expect(windowBuckets(c, v.window, v.bucket)).toEqual(buckets);
    expect(windowBuckets(c + v.bucket - 1, v.window, v.bucket)).toEqual(buckets);
    expect(buckets[buckets.length - 1]! + v.bucket).toBe(c);
  });

  it.each(V.tiers)('window $window reads the $bucket tier', ({ window, granularity, bucket }) => {
    expect(tierFor(durationMs(window), granularity).bucket).toBe(bucket);
    expect(windowSpan(window, granularity)).toEqual({
      windowMs: durationMs(window),
      bucketMs: durationMs(bucket),
    });
  });

  it('a window beyond every tier is an error', () => {
    expect(() => tierFor(durationMs('30d'), V.tiers[0]!.granularity)).toThrow('no granularity tier');
  });

  it.each(V.expire_at)('bucket $start expires at $expire_at', (v) => {
    expect(expireAt(v.start, v.bucket, v.up_to)).toBe(v.expire_at);
  });

  it.each(V.ratios)('ratio $numerator / $denominator smoothed by $smoothing', (v) => {
    expect(smoothedRatio(v.numerator, v.denominator, v.smoothing, v.default)).toBeCloseTo(v.value, 12);
  });

  it.each(V.scenario.queries)('counters at $t over $window ms equal the direct count', (q) => {
    // Every event, also those at or after t: the value as of t does not depend on when it is read.
    const counters = new Map<number, number>();
    for (const ts of V.scenario.events) {
      const s = bucketStart(ts, q.bucket);
      counters.set(s, (counters.get(s) ?? 0) + 1);
    }
    const fromBuckets = windowBuckets(q.t, q.window, q.bucket).reduce(
      (n, s) => n + (counters.get(s) ?? 0),
      0,
    );
    const [from, to] = windowRange(q.t, q.window, q.bucket);
    expect(fromBuckets).toBe(q.count);
    expect(V.scenario.events.filter((ts) => from <= ts && ts < to)).toHaveLength(q.count);
  });
});
