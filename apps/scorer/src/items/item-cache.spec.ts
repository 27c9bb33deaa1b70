import { bucket } from '@mmctr/features';
import { demoLayout } from '../../test/support/test-layout';
import { ItemCache } from './item-cache';

const item = (item_id: string, category: string, tags: string[], ts_ms: number) => ({
  item_id,
  ts_ms,
  attributes: { category, tags },
});

describe('ItemCache (columnar, every item slot precomputed by row)', () => {
  const layout = demoLayout(4);
  const column = (cache: ItemCache, source: string, kind = 'cat') =>
    cache.columns[layout.itemSlots.findIndex((s) => s.slot.source === source && s.kind === kind)]!;

  it('precomputes the candidate- and sequence-side item slots once each, with the shared hash', () => {
    expect(layout.itemSlots.map((s) => `${s.kind}:${s.slot.feature}`)).toEqual([
      'cat:item_id',
      'cat:category',
      'multi:tags',
    ]);
    expect(layout.itemAttributes).toEqual([
      { name: 'category', type: 'string' },
      { name: 'tags', type: 'string_list' },
    ]);
    const cache = new ItemCache(layout, 2);
    const r = cache.upsertItem(item('x', 'shoes', ['a', '', 'b'], 5));
    expect(column(cache, 'item.item_id')[r]).toBe(bucket('item_id', 'x', 131072));
    expect(column(cache, 'item.category')[r]).toBe(bucket('category', 'shoes', 1024));
    expect(Array.from(column(cache, 'item.tags', 'multi').subarray(r * 5, (r + 1) * 5))).toEqual([
      bucket('tag', 'a', 16384),
      bucket('tag', 'b', 16384),
      0,
      0,
      0,
    ]);
  });

  it('encodes the key of an item known only by its vector, and 0 for its attributes', () => {
    const cache = new ItemCache(layout);
    const r = cache.upsertVector('v', [1, 2, 3, 4], 1);
    expect(column(cache, 'item.item_id')[r]).toBe(bucket('item_id', 'v', 131072));
    expect(column(cache, 'item.category')[r]).toBe(0);
    expect(cache.missingValue(1)).toBe(0);
  });

  it('keeps the newest version of features and vectors, and pads or truncates vectors', () => {
    const cache = new ItemCache(demoLayout(3));
    const r = cache.upsertItem(item('x', 'new', [], 10));
    cache.upsertItem(item('x', 'old', [], 9));
    expect(cache.columns[1]![r]).toBe(bucket('category', 'new', 1024));
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
    const cache = new ItemCache(demoLayout(2), 1);
    for (let i = 0; i < 3000; i++) {
      cache.upsertItem(item(`i${i}`, `c${i % 7}`, [`t${i}`], i));
      if (i % 2 === 0) cache.upsertVector(`i${i}`, [i, -i], i);
    }
    expect(cache.size).toBe(3000);
    // Capacity by a quarter at a time: 1024, 1280, 1600, 2000, 2500, 3125 rows.
    expect(cache.vectorData.length / cache.dim).toBe(3125);
    for (const i of [0, 1, 1023, 1024, 1279, 1280, 2047, 2500, 2999]) {
      const r = cache.row(`i${i}`);
      expect(cache.itemId(r)).toBe(`i${i}`);
      expect(cache.columns[0]![r]).toBe(bucket('item_id', `i${i}`, 131072));
      expect(cache.columns[1]![r]).toBe(bucket('category', `c${i % 7}`, 1024));
      expect(cache.columns[2]![r * 5]).toBe(bucket('tag', `t${i}`, 16384));
      expect(cache.hasVectorAt(r)).toBe(i % 2 === 0);
      expect(Array.from(cache.vectorAt(r))).toEqual(i % 2 === 0 ? [i, -i] : [0, 0]);
    }
  });
});
