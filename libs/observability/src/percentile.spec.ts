import { percentile } from './percentile';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('returns the value at rank ceil(p/100 * n)', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([1, 2], 50)).toBe(1);
    expect(percentile([1, 2, 3], 50)).toBe(2);
  });

  it('clamps p = 0 to the smallest value and is NaN for no values', () => {
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
  });
});
