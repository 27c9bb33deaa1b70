import fc from 'fast-check';
import type { BehaviourEvent } from '@mmctr/contracts';
import { compareNewestFirst, historyMember, itemOfMember, referenceHistory } from './history';

const ev = (id: string, user: string, item: string, ts: number, type: BehaviourEvent['type'] = 'click') =>
  ({
    schema_version: 1,
    event_id: id,
    type,
    ts_ms: ts,
    user_id: user,
    item_id: item,
    request_id: 'r',
  }) as BehaviourEvent;

describe('history reference', () => {
  it('keeps the newest `cap` events of the configured types per user, newest first', () => {
    const events = [
      ev('e1', 'u1', 'a', 100),
      ev('e2', 'u1', 'b', 300),
      ev('e3', 'u1', 'c', 200),
      ev('e4', 'u1', 'd', 400, 'impression'),
      ev('e5', 'u2', 'a', 50),
    ];
    const ref = referenceHistory(events, { types: ['click'], cap: 2 });
    expect(ref.get('u1')).toEqual([
      { item_id: 'b', ts_ms: 300 },
      { item_id: 'c', ts_ms: 200 },
    ]);
    expect(ref.get('u2')).toEqual([{ item_id: 'a', ts_ms: 50 }]);
  });

  it('counts a redelivered event once and two clicks on one item twice', () => {
    const ref = referenceHistory([ev('e1', 'u', 'a', 1), ev('e1', 'u', 'a', 1), ev('e2', 'u', 'a', 2)], {
      types: ['click'],
      cap: 10,
    });
    expect(ref.get('u')).toEqual([
      { item_id: 'a', ts_ms: 2 },
      { item_id: 'a', ts_ms: 1 },
    ]);
  });

  it('does not depend on arrival order or duplicates', () => {
    const arb = fc.array(
      fc.record({
        id: fc.integer({ min: 0, max: 30 }),
        user: fc.constantFrom('u1', 'u2'),
        ts: fc.integer({ min: 0, max: 20 }),
      }),
      { maxLength: 60 },
    );
    fc.assert(
      fc.property(arb, fc.integer(), (rows, seed) => {
        // The same event id always carries the same payload (as a redelivery does).
        const events = rows.map((r) => ev(`e${r.id}`, `u${r.id % 2}`, `i${r.id % 5}`, (r.id * 7) % 20));
        const shuffled = [...events, ...events.slice(0, 5)].sort(() =>
          (seed = (seed * 1103515245 + 12345) | 0) & 1 ? 1 : -1,
        );
        const opts = { types: ['click'] as const, cap: 4 };
        expect(referenceHistory(shuffled, opts)).toEqual(referenceHistory(events, opts));
      }),
    );
  });

  it('orders ties like Redis (member bytes, descending) and splits members at the last |', () => {
    const m = historyMember('a|b', 'e1');
    expect(m).toBe('a|b|e1');
    expect(itemOfMember(m)).toBe('a|b');
    const sorted = [
      { ts_ms: 5, member: 'a|e1' },
      { ts_ms: 5, member: 'b|e0' },
      { ts_ms: 6, member: 'a|e9' },
    ].sort(compareNewestFirst);
    expect(sorted.map((s) => s.member)).toEqual(['a|e9', 'b|e0', 'a|e1']);
  });
});
