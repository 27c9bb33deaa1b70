import { byTime, describePart, splitByTime } from './import-movielens-split';

const rating = (tsS: number, line: number) => ({ tsS, line });

describe('splitByTime', () => {
  it('orders globally by time, equal times by line, and cuts 80 / 10 / 10 %', () => {
    // Lines out of time order, as in u.data; lines 3 and 7 share a second.
    const ratings = [50, 10, 30, 90, 20, 100, 30, 70, 60, 80].map((t, i) => rating(t, i + 1));
    const s = splitByTime(ratings);
    expect(s.train.map((r) => [r.tsS, r.line])).toEqual([
      [10, 2],
      [20, 5],
      [30, 3],
      [30, 7],
      [50, 1],
      [60, 9],
      [70, 8],
      [80, 10],
    ]);
    expect(s.valid.map((r) => r.tsS)).toEqual([90]);
    expect(s.test.map((r) => r.tsS)).toEqual([100]);
    expect(describePart(s.train)).toEqual({ count: 8, fromS: 10, toS: 80 });
  });

  it('rounds train and validation down, so the test part takes the remainder', () => {
    const s = splitByTime(Array.from({ length: 19 }, (_, i) => rating(i, i + 1)));
    expect([s.train.length, s.valid.length, s.test.length]).toEqual([15, 1, 3]);
    expect(s.test[0]!.tsS).toBe(16);
  });

  it('splits a tie at a boundary by line order and leaves its input alone', () => {
    const ratings = Array.from({ length: 10 }, (_, i) => rating(i < 7 ? i : 7, 10 - i));
    const copy = [...ratings];
    const s = splitByTime(ratings);
    expect(s.train.at(-1)).toEqual(rating(7, 1));
    expect(s.valid).toEqual([rating(7, 2)]);
    expect(ratings).toEqual(copy);
    expect(byTime(ratings)).toHaveLength(10);
  });

  it('describes an empty part without boundaries', () => {
    const s = splitByTime([]);
    expect(describePart(s.test)).toEqual({ count: 0, fromS: null, toS: null });
  });
});
