import { join } from 'node:path';
import { fitProjection, Projection } from './projection';
import { ProjectionStore } from './projection-store';
import { tempDir } from '../../../../test/support/temp-dir';

function items(n: number) {
  // Two clusters; the image block separates them along one axis, the text block along another.
  return Array.from({ length: n }, (_, i) => {
    const c = i % 2;
    const image = Float32Array.from(
      { length: 8 },
      (_, j) => (j === 0 ? c : 0) + 0.01 * Math.sin(i * (j + 1)),
    );
    const text = Float32Array.from(
      { length: 4 },
      (_, j) => (j === 1 ? 1 - c : 0) + 0.01 * Math.cos(i * (j + 2)),
    );
    return { image, text };
  });
}

describe('projection', () => {
  const stores = tempDir('projection');
  const encoders = { image: 'img@1', text: 'txt@1' };

  it('fits, versions and applies a PCA projection', () => {
    const data = items(60);
    const a = fitProjection(data, { dim: 3, encoders, imageDim: 8, textDim: 4, now: new Date(0) });
    expect(a.version).toMatch(/^pca3-19700101T000000Z-[0-9a-f]{8}$/);
    expect(a.fitted_on.explained_variance_ratio).toBeGreaterThan(0.9);
    const p = new Projection(a);
    const f0 = p.project(data[0]!.image, data[0]!.text);
    const f1 = p.project(data[1]!.image, data[1]!.text);
    expect(f0).toHaveLength(3);
    // The clusters land on opposite sides of the first component.
    expect(Math.sign(f0[0]!)).toBe(-Math.sign(f1[0]!));
    // A missing modality is allowed and stays finite.
    expect(Array.from(p.project(null, data[0]!.text)).every(Number.isFinite)).toBe(true);
    expect(() => p.project(new Float32Array(3), null)).toThrow(/image vector/);
  });

  it('stores artifacts and follows the current pointer', () => {
    const store = new ProjectionStore(join(stores, 'projections'), 0);
    expect(store.current()).toBeNull();
    const a = fitProjection(items(20), { dim: 2, encoders, imageDim: 8, textDim: 4, now: new Date(1000) });
    store.save(a);
    expect(store.current()?.version).toBe(a.version);
    const b = fitProjection(items(30), { dim: 2, encoders, imageDim: 8, textDim: 4, now: new Date(2000) });
    store.save(b);
    expect(store.current()?.version).toBe(b.version);
    expect(store.load(a.version).version).toBe(a.version);
  });
});
