import type { CategoricalSlot, MultiSlot, NumericSlot } from '@mmctr/feature-repo';
import { bucket } from './hash';
import { Hasher } from './hash-cache';
import {
  categoricalEncoder,
  categoricalString,
  multiEncoder,
  numericEncoder,
  splitSource,
  writeVector,
} from './slots';

const h = new Hasher();
const cat = (slot: Partial<CategoricalSlot>) =>
  categoricalEncoder({ feature: 'f', source: 'item.f', encoding: 'hash', size: 64, ...slot }, h);

describe('slot encoders', () => {
  it('hashes strings, decimal ints, booleans; 0 for missing and empty', () => {
    const enc = cat({ field: 'f' });
    expect(enc('x')).toBe(bucket('f', 'x', 64));
    expect(enc(7)).toBe(bucket('f', '7', 64));
    expect(enc(true)).toBe(bucket('f', 'true', 64));
    expect([enc(''), enc(null), enc(undefined), enc(Number.NaN)]).toEqual([0, 0, 0, 0]);
  });

  it('clips (truncating) before hashing', () => {
    const enc = cat({ field: 'position', clip: [0, 31] });
    expect(enc(57)).toBe(bucket('position', '31', 64));
    expect(enc(-3)).toBe(bucket('position', '0', 64));
    expect(enc(4.9)).toBe(bucket('position', '4', 64));
    expect(categoricalString(4.9, [0, 31])).toBe('4');
  });

  it('derives the UTC hour and weekday (Monday = 0) of a timestamp', () => {
    const ts = Date.UTC(2024, 0, 1, 13, 5); // a Monday
    expect(cat({ field: 'h', derive: 'hour_of_day_utc' })(ts)).toBe(bucket('h', '13', 64));
    expect(cat({ field: 'd', derive: 'day_of_week_utc' })(ts)).toBe(bucket('d', '0', 64));
    expect(cat({ field: 'd', derive: 'day_of_week_utc' })(ts + 6 * 86_400_000)).toBe(bucket('d', '6', 64));
    expect(() => cat({ derive: 'minute' })).toThrow(/unknown derive 'minute'/);
  });

  it('looks vocabulary values up (1 + index, 0 unknown or missing; bools as true/false)', () => {
    const enc = cat({ encoding: 'vocabulary', vocabulary: ['a', 'true', '3'], size: 4 });
    expect([enc('a'), enc(true), enc(3), enc('zz'), enc(undefined), enc(false)]).toEqual([1, 2, 3, 0, 0, 0]);
  });

  it('bucketizes numbers: 1 + count of boundaries <= value, after clipping; 0 missing', () => {
    const enc = cat({ encoding: 'bucketize', boundaries: [10, 20], size: 4, clip: [0, 15] });
    expect([enc(undefined), enc(-5), enc(9), enc(10), enc(100)]).toEqual([0, 1, 1, 2, 2]);
  });

  it('transforms numeric values to float32, missing -> the default', () => {
    const num = (slot: Partial<NumericSlot>, fallback?: number) =>
      numericEncoder({ feature: 'n', source: 'item.n', transform: 'none', ...slot }, fallback);
    expect(num({}, 2.5)(undefined)).toBe(2.5);
    expect(num({})(undefined)).toBe(0);
    expect(num({ transform: 'clip', clip: [0, 1] })(3)).toBe(1);
    expect(num({ transform: 'log1p' })(-4)).toBe(0);
    expect(num({ transform: 'log1p' })(Math.E - 1)).toBe(1);
    expect(num({ transform: 'standardize', stats: { mean: 1, std: 3 } })(2)).toBe(Math.fround(1 / 3));
    // no stats: fitted by the trainer, the model's graph standardizes the clipped value written here
    expect(num({ transform: 'standardize', clip: [0, 10] })(12.5)).toBe(10);
    expect(num({ transform: 'standardize' })(2.3)).toBe(Math.fround(2.3));
  });

  it('writes the first max_length non-empty values of a list, zero-padded', () => {
    const slot: MultiSlot = {
      feature: 'tags',
      source: 'item.tags',
      field: 'tag',
      size: 100,
      max_length: 3,
      pooling: 'mean',
      offset: 0,
    };
    const out = new Array<number>(5).fill(9);
    const write = multiEncoder(slot, h);
    write(['a', '', 'b', 'c', 'd'], { set: (i, v) => (out[i] = v) }, 1);
    expect(out).toEqual([9, bucket('tag', 'a', 100), bucket('tag', 'b', 100), bucket('tag', 'c', 100), 9]);
    write(undefined, { set: (i, v) => (out[i] = v) }, 1);
    expect(out.slice(1, 4)).toEqual([0, 0, 0]);
  });

  it('truncates or zero-pads vectors', () => {
    const out = new Float32Array(6).fill(7);
    writeVector([1, 2, 3, 4], out, 1, 3);
    expect(Array.from(out)).toEqual([7, 1, 2, 3, 7, 7]);
    writeVector(null, out, 1, 3);
    expect(Array.from(out)).toEqual([7, 0, 0, 0, 7, 7]);
  });

  it('names a source that is not <entity>.<attribute>', () => {
    expect(splitSource('item.tags')).toEqual(['item', 'tags']);
    expect(() => splitSource('tags')).toThrow(/slot source 'tags'/);
  });
});
