import { offsetsToCommit, type FetchedRange } from './offsets';

const chunk = (
  topic: string,
  partition: number,
  first: string,
  last: string,
  generation = 1,
): FetchedRange => ({
  topic,
  partition,
  firstOffset: first,
  lastOffset: last,
  generation,
});

describe('offsetsToCommit', () => {
  const all = () => true;

  it('commits one past the highest offset per partition', () => {
    const r = offsetsToCommit(
      [
        chunk('a', 0, '0', '9'),
        chunk('a', 0, '10', '19'),
        chunk('a', 1, '5', '7'),
        chunk('b', 0, '100', '100'),
      ],
      1,
      all,
    );
    expect(r.skipped).toBe(0);
    expect(r.commit).toEqual([
      { topic: 'a', partition: 0, offset: '20' },
      { topic: 'a', partition: 1, offset: '8' },
      { topic: 'b', partition: 0, offset: '101' },
    ]);
  });

  it('never commits revoked partitions or chunks fetched before a rebalance', () => {
    const r = offsetsToCommit(
      [chunk('a', 0, '0', '9', 1), chunk('a', 1, '0', '9', 2), chunk('a', 2, '0', '9', 2)],
      2,
      (_t, p) => p !== 2,
    );
    expect(r.commit).toEqual([{ topic: 'a', partition: 1, offset: '10' }]);
    expect(r.skipped).toBe(2);
  });

  it('handles offsets beyond 2^53', () => {
    const r = offsetsToCommit([chunk('a', 0, '9007199254740993', '9007199254740993')], 1, all);
    expect(r.commit[0]!.offset).toBe('9007199254740994');
  });
});
