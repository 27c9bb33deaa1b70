import { Rng, searchCumulative } from './prng';

const draw = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.nextU32());

describe('Rng', () => {
  it('repeats its sequence for a seed and label, and differs otherwise', () => {
    expect(draw(new Rng(7, 'a'), 50)).toEqual(draw(new Rng(7, 'a'), 50));
    expect(draw(new Rng(7, 'a'), 50)).not.toEqual(draw(new Rng(8, 'a'), 50));
    expect(draw(new Rng(7, 'a'), 50)).not.toEqual(draw(new Rng(7, 'b'), 50));
  });

  it('forks independent, reproducible streams', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    expect(draw(a.fork('x'), 20)).toEqual(draw(b.fork('x'), 20));
    expect(draw(new Rng(1).fork('x'), 20)).not.toEqual(draw(new Rng(1).fork('y'), 20));
  });

  it('draws uniforms, normals and Dirichlet points with the right moments', () => {
    const rng = new Rng(3);
    const n = 20_000;
    const u = Array.from({ length: n }, () => rng.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((s, x) => s + x, 0) / n).toBeCloseTo(0.5, 1);
    const z = Array.from({ length: n }, () => rng.normal());
    const mean = z.reduce((s, x) => s + x, 0) / n;
    const variance = z.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
    expect(mean).toBeCloseTo(0, 1);
    expect(variance).toBeCloseTo(1, 1);
    const g = Array.from({ length: n }, () => rng.gamma(0.5));
    expect(g.reduce((s, x) => s + x, 0) / n).toBeCloseTo(0.5, 1);
    const d = rng.dirichlet(4, 1);
    expect(d.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
  });

  it('picks weighted indices in proportion and never a zero weight', () => {
    const rng = new Rng(5);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[rng.weighted([1, 0, 3])]!++;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / counts[0]!).toBeCloseTo(3, 0);
  });
});

describe('searchCumulative', () => {
  it('finds the bucket of a point within a prefix', () => {
    const cum = Float64Array.from([1, 3, 6, 10]);
    expect([0, 0.99, 1, 2.5, 3, 5.99, 9.99].map((u) => searchCumulative(cum, 4, u))).toEqual([
      0, 0, 1, 1, 2, 2, 3,
    ]);
    expect(searchCumulative(cum, 2, 2.9)).toBe(1);
  });
});
