import { expectedOverTopics, expectedSigmoid, ShortTermMemory, sigmoid } from './click-model';
import { resolveConfig, SMALL_PRESET } from './config';

const HOUR = 3_600_000;

describe('ShortTermMemory', () => {
  it('weights the most recent click highest and forgets beyond the window', () => {
    const m = new ShortTermMemory(2, 3, 0.5, 1e12);
    const v = new Float64Array(4);
    m.push(0, 1, 0);
    m.push(0, 2, 0);
    m.push(0, 3, 0);
    m.vector(0, 0, v);
    expect(Array.from(v)).toEqual([0, 0.25, 0.5, 1]);
    m.push(0, 0, 0); // topic 1 falls out of the 3-click window
    m.vector(0, 0, v);
    expect(Array.from(v)).toEqual([1, 0, 0.25, 0.5]);
    m.vector(1, 0, v);
    expect(Array.from(v)).toEqual([0, 0, 0, 0]);
  });

  it('halves a click weight every half-life', () => {
    const m = new ShortTermMemory(1, 5, 0.6, 24 * HOUR);
    const v = new Float64Array(2);
    m.push(0, 1, 0);
    m.vector(0, 48 * HOUR, v);
    expect(v[1]).toBeCloseTo(0.25, 12);
  });
});

describe('resolveConfig', () => {
  it('merges presets and overrides over the defaults', () => {
    const cfg = resolveConfig(SMALL_PRESET, { seed: 9, items: { coldStartShare: 0.2 } });
    expect(cfg.items).toMatchObject({ count: 300, coldStartShare: 0.2, topics: 24 });
    expect(cfg.seed).toBe(9);
    expect(cfg.clickModel.ctrRange).toEqual([0.03, 0.08]);
  });

  it('rejects settings the generator cannot honour', () => {
    expect(() => resolveConfig({ items: { topics: 30 } })).toThrow(/topics/);
    expect(() => resolveConfig({ days: 4 })).toThrow(/days/);
    expect(() => resolveConfig({ clickModel: { targetCtr: 0.2 } })).toThrow(/targetCtr/);
  });
});

describe('expectedSigmoid', () => {
  // Simpson's rule over +-12 sigma in 24,000 steps: a slow reference for the 65-node trapezoid.
  const reference = (z: number, sigma: number): number => {
    const steps = 24_000;
    const h = 24 / steps;
    let sum = 0;
    for (let i = 0; i <= steps; i++) {
      const x = -12 + i * h;
      const f = sigmoid(z + sigma * x) * Math.exp(-0.5 * x * x);
      sum += (i === 0 || i === steps ? 1 : i % 2 ? 4 : 2) * f;
    }
    return (sum * h) / 3 / Math.sqrt(2 * Math.PI);
  };

  it('is the integral of the sigmoid over the normal noise', () => {
    for (const [z, sigma] of [
      [-3, 0.3],
      [0.7, 0.3],
      [2.5, 1],
      [-6, 2],
    ] as const)
      expect(Math.abs(expectedSigmoid(z, sigma) - reference(z, sigma))).toBeLessThan(1e-9);
  });

  it('is the sigmoid without noise, and noise pulls it towards 1/2', () => {
    expect(expectedSigmoid(1.3, 0)).toBe(sigmoid(1.3));
    expect(expectedSigmoid(0, 0.8)).toBeCloseTo(0.5, 12);
    expect(expectedSigmoid(-3, 0.3)).toBeGreaterThan(sigmoid(-3));
    expect(expectedSigmoid(2, 0.3)).toBeLessThan(sigmoid(2));
  });
});

describe('expectedOverTopics', () => {
  it('averages over the topics by their prior weight and skips topics without weight', () => {
    const prior = [0, 1, 3, 0, 5];
    const got = expectedOverTopics([0, 1, 2, 3], prior, (t) => t - 2, 0.3);
    const want = (expectedSigmoid(-1, 0.3) + 3 * expectedSigmoid(0, 0.3)) / 4;
    expect(got).toBeCloseTo(want, 14);
    expect(expectedOverTopics([2], prior, () => 0.4, 0.3)).toBeCloseTo(expectedSigmoid(0.4, 0.3), 14);
  });
});
