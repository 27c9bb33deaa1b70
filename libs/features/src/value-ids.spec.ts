import type { CategoricalSlot } from '@mmctr/feature-repo';
import { bucket } from './hash';
import { Hasher } from './hash-cache';
import { categoricalEncoder } from './slots';
import { ValueIds, valueIds } from './value-ids';

const slot = (fit: boolean, extra: Partial<CategoricalSlot> = {}): CategoricalSlot => ({
  feature: 'site',
  source: 'context.site',
  encoding: 'hash',
  size: 64,
  field: 'site',
  ...(fit ? { fit: { min_count: 1 } } : {}),
  ...extra,
});

describe('value ids of fitted categorical features', () => {
  it('are dense per feature, in order of first sight, 0 for an empty value, and remember their value', () => {
    const ids = new ValueIds();
    expect([ids.id('a', 'x'), ids.id('a', 'y'), ids.id('a', 'x'), ids.id('b', 'x'), ids.id('a', '')]).toEqual(
      [1, 2, 1, 1, 0],
    );
    expect([ids.text('a', 2), ids.text('b', 1), ids.text('a', 3)]).toEqual(['y', 'x', undefined]);
    expect([ids.count('a'), ids.count('b'), ids.count('c')]).toEqual([3, 2, 1]);
  });

  it('replace the hash bucket of a fitted slot: two values of one bucket keep apart', () => {
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const b = bucket('site', `s${i}`, 64);
      const other = seen.get(b);
      if (other !== undefined) pair = [other, `s${i}`];
      seen.set(b, `s${i}`);
    }
    const hashed = categoricalEncoder(slot(false), new Hasher());
    const fitted = categoricalEncoder(slot(true), new Hasher());
    expect(hashed(pair[0])).toBe(hashed(pair[1]));
    expect(fitted(pair[0])).not.toBe(fitted(pair[1]));
    expect([fitted(pair[0]), fitted(pair[1])]).toEqual(pair.map((v) => valueIds.id('site', v)));
    expect([fitted(''), fitted(null), fitted(undefined)]).toEqual([0, 0, 0]);
  });

  it('of a derived or clipped fitted slot are those of the derived / clipped text', () => {
    const hour = categoricalEncoder(slot(true, { feature: 'hour', derive: 'hour_of_day_utc' }), new Hasher());
    expect(hour(5 * 3_600_000 + 17)).toBe(valueIds.id('hour', '5'));
    const pos = categoricalEncoder(slot(true, { feature: 'pos', clip: [0, 3] }), new Hasher());
    expect(pos(9)).toBe(valueIds.id('pos', '3'));
  });
});
