import { BoundaryCache } from './window-reader';
import { bucketStart } from './buckets';

const H = 1_767_225_600_000; // a minute and hour boundary
const MIN = 60_000;

describe('BoundaryCache: window sums valid until the next boundary of their tier', () => {
  const sums = (x: number) => Float64Array.of(x);

  it('serves an entry for every t of the bucket it was read in, and misses from the next boundary on', () => {
    const cache = new BoundaryCache(10);
    cache.set('g\n60000', bucketStart(H + 5, MIN), sums(1));
    for (const t of [H, H + 1, H + MIN - 1])
      expect(cache.get('g\n60000', bucketStart(t, MIN))).toEqual(sums(1));
    expect(cache.get('g\n60000', bucketStart(H + MIN, MIN))).toBeUndefined();
    expect(cache.get('g\n60000', bucketStart(H - 1, MIN))).toBeUndefined(); // an earlier t: other buckets
    expect(cache.get('other\n60000', bucketStart(H, MIN))).toBeUndefined();
  });

  it('replaces an entry with a newer bucket, and keeps the live one against a replayed older t', () => {
    const cache = new BoundaryCache(10);
    cache.set('g', H, sums(1));
    cache.set('g', H + MIN, sums(2));
    expect(cache.get('g', H + MIN)).toEqual(sums(2));
    cache.set('g', H, sums(3));
    expect(cache.get('g', H)).toBeUndefined();
    expect(cache.get('g', H + MIN)).toEqual(sums(2));
  });

  it('holds at most its bound, dropping the entry written longest ago', () => {
    const cache = new BoundaryCache(3);
    for (const g of ['a', 'b', 'c']) cache.set(g, H, sums(1));
    cache.set('a', H + MIN, sums(2)); // rewritten: now the newest
    cache.set('d', H, sums(4));
    expect(cache.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((g) => cache.get(g, g === 'a' ? H + MIN : H)?.[0])).toEqual([
      2,
      undefined,
      1,
      4,
    ]);
  });
});
