import { fitPca, jacobiEigen } from './pca';

describe('jacobiEigen', () => {
  it('diagonalises a symmetric matrix', () => {
    const { values } = jacobiEigen(Float64Array.from([2, 1, 1, 2]), 2);
    expect(values.sort()).toEqual([expect.closeTo(1, 8), expect.closeTo(3, 8)]);
  });
});

describe('fitPca', () => {
  it('recovers the directions of a known anisotropic cloud', () => {
    // Points spread along e0 (sd 5), e1 (sd 2), noise elsewhere (sd 0.1), rotated by a fixed mix.
    let s = 7;
    const gauss = () => {
      s = (s * 16807) % 2147483647;
      const u = s / 2147483647;
      s = (s * 16807) % 2147483647;
      const v = s / 2147483647;
      return Math.sqrt(-2 * Math.log(u + 1e-12)) * Math.cos(2 * Math.PI * v);
    };
    const d = 6;
    const rows = Array.from({ length: 800 }, () => {
      const r = Array.from({ length: d }, () => 0.1 * gauss());
      r[0] = 5 * gauss() + 3;
      r[1] = 2 * gauss() - 1;
      return r;
    });
    const pca = fitPca(rows, d, 2);
    expect(Math.abs(pca.components[0]!)).toBeGreaterThan(0.99);
    expect(Math.abs(pca.components[d + 1]!)).toBeGreaterThan(0.99);
    expect(pca.variances[0]).toBeGreaterThan(20);
    expect(pca.variances[1]).toBeGreaterThan(3);
    expect(pca.variances[1]).toBeLessThan(5);
    expect(pca.mean[0]).toBeCloseTo(3, 0);
    // Orthonormal rows.
    let dot = 0;
    for (let j = 0; j < d; j++) dot += pca.components[j]! * pca.components[d + j]!;
    expect(Math.abs(dot)).toBeLessThan(1e-9);
  });
});
