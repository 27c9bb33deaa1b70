import { l2Normalize, meanPool } from './pooling';

describe('meanPool', () => {
  it('averages only the tokens the mask keeps', () => {
    // batch 2, tokens 3, dim 2
    const hidden = Float32Array.from([1, 2, 3, 4, 100, 100, 5, 5, 7, 9, 11, 13]);
    const mask = [1, 1, 0, 1, 1, 1];
    const [a, b] = meanPool(hidden, mask, 2, 3, 2);
    expect(Array.from(a!)).toEqual([2, 3]);
    expect(b![0]).toBeCloseTo(23 / 3, 5);
    expect(b![1]).toBeCloseTo(9, 5);
  });

  it('accepts bigint masks (int64 tensors) and pools an empty row to zeros', () => {
    const [row] = meanPool(Float32Array.from([1, 2]), [0n], 1, 1, 2);
    expect(Array.from(row!)).toEqual([0, 0]);
  });

  it('checks the shapes', () => {
    expect(() => meanPool(new Float32Array(5), [1, 1], 1, 2, 2)).toThrow(/hidden/);
  });
});

describe('l2Normalize', () => {
  it('gives unit length and keeps the direction', () => {
    const v = l2Normalize(Float32Array.from([3, 4]));
    expect(v[0]).toBeCloseTo(0.6);
    expect(v[1]).toBeCloseTo(0.8);
  });
  it('leaves a zero vector alone', () => {
    expect(Array.from(l2Normalize(new Float32Array(3)))).toEqual([0, 0, 0]);
  });
});
