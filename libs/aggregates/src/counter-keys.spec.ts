import { keySlot } from '@mmctr/online-store';
import { counterGroup, counterKey, markerKey, markerSet } from './counter-keys';

describe('counter key names', () => {
  it('tags every key with the first key part only, the full key value in the counter name', () => {
    const group = counterGroup('p:', 'user+item.category', ['u1', 'books']);
    expect(counterKey(group, 60_000, 0)).toBe('p:agg:{user=u1}:user+item.category=u1,books:60000:0');
    expect(markerKey(markerSet('p:', 'user+item.category', 'u1'), 0)).toBe(
      'p:agg:{user=u1}:seen:user+item.category:0',
    );
    expect(counterGroup('', 'item', ['i1'])).toBe('agg:{item=i1}:item=i1');
  });

  it('encodes separators in values, so no two key values share a name and the tag stays the first part', () => {
    const odd = [
      ['a,b', 'c'],
      ['a', 'b,c'],
      ['x:1', 'y'],
      ['x', '1:y'],
      ['}{', '='],
      ['%7D', ''],
    ];
    const names = odd.map((v) => counterGroup('p:', 'user+item.category', v));
    expect(new Set(names).size).toBe(odd.length);
    odd.forEach(([first], i) => {
      const marker = markerSet('p:', 'user+item.category', first!);
      expect(keySlot(counterKey(names[i]!, 60_000, 0))).toBe(keySlot(marker));
    });
  });

  it('refuses a key value without elements', () => {
    expect(() => counterGroup('p:', 'item', [])).toThrow("a key value of 'item' needs at least one element");
  });
});
