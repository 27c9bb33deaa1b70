import { ShortTermMemory } from './click-model';
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
