import { LayoutEncoder } from '@mmctr/features';
import { aggregatesLayout, aggregatesRepo } from '../../test/support/aggregate-layout';
import { expectFeedsEqual } from '../../test/support/expect-feeds';
import { ItemCache } from '../items/item-cache';
import { InputBuffers } from '../model/onnx-model';
import { FeatureAssembler, type AssemblyInput } from './feature-assembler';

describe('FeatureAssembler aggregate slots against libs/features LayoutEncoder (the training twin)', () => {
  const layout = aggregatesLayout();
  const categories: Record<string, string> = { i0: 'books', i1: 'toys', i2: '' };
  const cache = new ItemCache(layout);
  for (const [item_id, category] of Object.entries(categories))
    cache.upsertItem({ item_id, ts_ms: 1, attributes: { category, tags: [] } });
  const assembler = new FeatureAssembler(layout);
  const buffers = new InputBuffers(layout.inputs, 64);
  const encoder = new LayoutEncoder(aggregatesRepo());

  /** The raw window values of candidate b for window i: counts around the bucketize boundaries and the clip, ratios, negatives. */
  const raw = (i: number, b: number): number =>
    [0, 1, 2.999, 3, 4, 5, 1e6, -1, 0.123456789012345, 0.05][(i * 3 + b) % 10]!;

  it('writes the logged raw window values into exactly the inputs the training encoder makes of them', () => {
    const candidateIds = ['i0', 'i1', 'i2', 'ghost', 'i0', 'i1', 'i2'];
    const aggregates = layout.aggregates.map((a, i) =>
      Float64Array.from({ length: a.side === 'user' ? 1 : candidateIds.length }, (_, b) => raw(i, b)),
    );
    const tsMs = 1_700_000_000_000;
    const input: AssemblyInput = {
      userId: 'u1',
      context: {},
      tsMs,
      sequences: layout.layout.sequences.map(() => ({ ids: [], rows: new Int32Array(0), tsMs: [] })),
      candidateIds,
      candidateRows: Int32Array.from(candidateIds, (id) => cache.row(id)),
      candidateContext: {},
      aggregates,
    };
    assembler.assemble(cache, buffers, input);
    // As the score log records them: by `<aggregation>@<window>`, the user's once, the candidates' in order.
    const user: Record<string, number> = {};
    const candidates: Record<string, number[]> = {};
    layout.aggregates.forEach((a, i) => {
      if (a.side === 'user') user[a.name] = aggregates[i]![0]!;
      else candidates[a.name] = Array.from(aggregates[i]!);
    });
    expect(Object.keys(user).length).toBeGreaterThan(0);
    expect(Object.keys(candidates).length).toBeGreaterThan(0);
    const expected = encoder.encodeRequest({
      ts_ms: tsMs,
      user: { row: { user_id: 'u1' } },
      context: {},
      candidates: candidateIds.map((id) => ({
        row: { item_id: id, ...(id in categories ? { category: categories[id], tags: [] } : {}) },
      })),
      aggregates: { user, candidates },
    });
    const feeds = buffers.feeds(candidateIds.length);
    expectFeedsEqual(feeds, expected);
  });
});
