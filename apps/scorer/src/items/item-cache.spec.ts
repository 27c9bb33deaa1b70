import { bucket, loadFeatureSpec, TAG_SLOTS } from '@mmctr/features';
import { ItemCache, encodingKey } from './item-cache';

const spec = loadFeatureSpec();

describe('ItemCache (columnar, typed arrays by row)', () => {
  it('encodes rows with the shared hash, for layouts registered before and after the rows', () => {
    const cache = new ItemCache(4, 2);
    const early = cache.columns(spec);
    const r = cache.upsertItem({ item_id: 'x', category: 'shoes', tags: ['a', '', 'b'], ts_ms: 5 });
    const cols = cache.columns(spec);
    expect(cols).toBe(early);
    expect(cols.itemId[r]).toBe(bucket('item_id', 'x', 131072));
    expect(cols.category[r]).toBe(bucket('category', 'shoes', 1024));
    expect(Array.from(cols.tags.subarray(r * TAG_SLOTS, (r + 1) * TAG_SLOTS))).toEqual([
      bucket('tag', 'a', 16384),
      bucket('tag', 'b', 16384),
      0,
      0,
      0,
    ]);
    const other = { ...spec, tags: { ...spec.tags, buckets: 99 } };
    expect(encodingKey(other)).not.toBe(encodingKey(spec));
    expect(cache.columns(other).tags[r * TAG_SLOTS]).toBe(bucket('tag', 'a', 99));
  });

  it('keeps the newest version of features and vectors, and pads or truncates vectors', () => {
    const cache = new ItemCache(3);
    const r = cache.upsertItem({ item_id: 'x', category: 'new', tags: [], ts_ms: 10 });
    cache.upsertItem({ item_id: 'x', category: 'old', tags: [], ts_ms: 9 });
    expect(cache.columns(spec).category[r]).toBe(bucket('category', 'new', 1024));
    cache.upsertVector('x', [1, 2], 100);
    expect(Array.from(cache.vectorAt(r))).toEqual([1, 2, 0]);
    cache.upsertVector('x', [9, 9, 9, 9], 50);
    expect(Array.from(cache.vectorAt(r))).toEqual([1, 2, 0]);
    cache.upsertVector('x', [4, 5, 6, 7], 200);
    expect(Array.from(cache.vectorAt(r))).toEqual([4, 5, 6]);
    expect(cache.hasVectorAt(r)).toBe(true);
    expect(cache.row('nope')).toBe(-1);
  });

  it('keeps every row intact while growing past its capacity', () => {
    const cache = new ItemCache(2, 1);
    cache.columns(spec);
    for (let i = 0; i < 3000; i++) {
      cache.upsertItem({ item_id: `i${i}`, category: `c${i % 7}`, tags: [`t${i}`], ts_ms: i });
      if (i % 2 === 0) cache.upsertVector(`i${i}`, [i, -i], i);
    }
    expect(cache.size).toBe(3000);
    const cols = cache.columns(spec);
    for (const i of [0, 1, 1023, 1024, 2047, 2999]) {
      const r = cache.row(`i${i}`);
      expect(cache.itemId(r)).toBe(`i${i}`);
      expect(cols.category[r]).toBe(bucket('category', `c${i % 7}`, 1024));
      expect(cols.tags[r * TAG_SLOTS]).toBe(bucket('tag', `t${i}`, 16384));
      expect(cache.hasVectorAt(r)).toBe(i % 2 === 0);
      expect(Array.from(cache.vectorAt(r))).toEqual(i % 2 === 0 ? [i, -i] : [0, 0]);
    }
  });
});
