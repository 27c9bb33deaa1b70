import fc from 'fast-check';
import { auc, logLoss } from './metrics';

/** O(n^2) definition, to check the sorted-merge version against. */
function bruteAuc(s: number[], y: number[]): number {
  let sum = 0;
  let pairs = 0;
  s.forEach((si, i) =>
    s.forEach((sj, j) => {
      if (y[i] === 1 && y[j] === 0) {
        pairs++;
        sum += si > sj ? 1 : si === sj ? 0.5 : 0;
      }
    }),
  );
  return sum / pairs;
}

describe('auc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one and 0.5 for all ties', () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(auc([0.3, 0.3, 0.3], [0, 1, 0])).toBe(0.5);
    expect(auc([0.3, 0.4], [1, 1])).toBeNaN();
  });

  it('matches the pairwise definition, ties included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean()), { minLength: 2, maxLength: 40 }),
        (rows) => {
          const s = rows.map(([v]) => v / 5);
          const y = rows.map(([, c]) => (c ? 1 : 0));
          if (!y.includes(1) || !y.includes(0)) return;
          expect(auc(s, y)).toBeCloseTo(bruteAuc(s, y), 12);
        },
      ),
    );
  });

  it('scores only the included rows', () => {
    expect(auc([0.9, 0.1, 0.2, 0.8], [1, 0, 1, 0], (i) => i < 2)).toBe(1);
  });
});

describe('logLoss', () => {
  it('is the mean cross-entropy, with clipping', () => {
    expect(logLoss([0.5, 0.5], [1, 0])).toBeCloseTo(Math.log(2), 12);
    expect(logLoss([0.9], [1])).toBeCloseTo(-Math.log(0.9), 12);
    expect(Number.isFinite(logLoss([0], [1]))).toBe(true);
  });
});
