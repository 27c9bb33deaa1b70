import { LayoutEncoder, type RawRecord } from '@mmctr/features';
import { demoLayout, demoRepo, editableDemoRepo } from '../../test/support/test-layout';
import { expectFeedsEqual } from '../../test/support/expect-feeds';
import { ItemCache } from '../items/item-cache';
import { ServingLayout } from '../layout/serving-layout';
import { InputBuffers } from '../model/onnx-model';
import { FeatureAssembler, type AssemblyInput } from './feature-assembler';

const D = 128;
const L = 64;

interface TestItem {
  item_id: string;
  category: string;
  tags: string[];
  mm: number[] | null;
}

/** A small deterministic catalogue: some items without vectors, some without tags or category. */
function catalogue(n: number): TestItem[] {
  return Array.from({ length: n }, (_, i) => ({
    item_id: `item-${i}`,
    category: i % 5 === 0 ? '' : `cat-${i % 9}`,
    tags: Array.from({ length: i % 8 }, (_, k) => (k === 2 ? '' : `tag-${(i * 7 + k) % 50}`)),
    mm: i % 3 === 0 ? null : Array.from({ length: D }, (_, k) => Math.cos(i + k * 0.1)),
  }));
}

function fill(cache: ItemCache, items: TestItem[]): void {
  for (const it of items) {
    cache.upsertItem({ item_id: it.item_id, ts_ms: 1, attributes: { category: it.category, tags: it.tags } });
    if (it.mm) cache.upsertVector(it.item_id, it.mm, 1);
  }
}

/** An item as the training-side encoder reads it (unknown: only its id). */
const itemSide = (it: TestItem | undefined, id: string): RawRecord =>
  it
    ? { row: { item_id: it.item_id, category: it.category, tags: it.tags }, vectors: { fused: it.mm } }
    : { row: { item_id: id } };

// Click ages: now, the future, on and just below boundaries, the last boundary and beyond it.
const AGES = [0, -5_000, 600_000, 1_799_999, 3_600_000, 1_209_600_000, 5_000_000_000];

const values = (a: ArrayLike<number | bigint>, n = a.length) => Array.from(a, Number).slice(0, n);

describe('FeatureAssembler (serving) against libs/features LayoutEncoder (the training twin)', () => {
  const layout = demoLayout();
  const items = catalogue(300);
  const byId = new Map(items.map((it) => [it.item_id, it]));
  const cache = new ItemCache(layout);
  fill(cache, items);
  const assembler = new FeatureAssembler(layout);
  const buffers = new InputBuffers(layout.inputs, 500);
  const encoder = new LayoutEncoder(demoRepo());

  function check(
    userId: string,
    historyIds: string[],
    candidateIds: string[],
    positions: number[],
    split = false,
  ) {
    const context = { device: 'android', placement: 'feed' };
    const tsMs = 1_700_000_000_000 + historyIds.length * 3_600_000;
    const historyTsMs = historyIds.map((_, i) => tsMs - AGES[i % AGES.length]!);
    const input: AssemblyInput = {
      userId,
      context,
      tsMs,
      sequences: [
        { ids: historyIds, rows: Int32Array.from(historyIds, (id) => cache.row(id)), tsMs: historyTsMs },
      ],
      candidateIds,
      candidateRows: Int32Array.from(candidateIds, (id) => cache.row(id)),
      candidateContext: { position: positions },
    };
    // split: the scorer's order, candidates while the history call is in flight, then the request's.
    const oov = split
      ? assembler.assembleCandidates(cache, buffers, input) + assembler.assembleRequest(cache, buffers, input)
      : assembler.assemble(cache, buffers, input);
    const expected = encoder.encodeRequest({
      ts_ms: tsMs,
      user: { row: { user_id: userId } },
      context,
      sequences: {
        hist: historyIds.map((id, i) => ({ ...itemSide(byId.get(id), id), ts_ms: historyTsMs[i] })),
      },
      candidates: candidateIds.map((id, i) => ({
        ...itemSide(byId.get(id), id),
        context: { position: positions[i] },
      })),
    });
    const feeds = buffers.feeds(candidateIds.length);
    expectFeedsEqual(feeds, expected);
    const unknown = [...historyIds.slice(0, L), ...candidateIds].filter((id) => !byId.has(id)).length;
    expect(oov).toBe(unknown);
    return values(feeds.hist_age!.data as BigInt64Array);
  }

  it('writes exactly the tensors the training encoder produces, unknown items included', () => {
    const history = ['item-4', 'ghost-1', 'item-9', 'item-30', 'item-31'];
    const cands = Array.from({ length: 120 }, (_, i) =>
      i % 17 === 0 ? `new-${i}` : `item-${(i * 11) % 300}`,
    );
    check(
      'user-1',
      history,
      cands,
      cands.map((_, i) => i % 45),
    );
  });

  it('leaves nothing behind when preallocated buffers are reused for a smaller request', () => {
    const long = Array.from({ length: 90 }, (_, i) => `item-${i}`);
    check(
      'user-2',
      long,
      Array.from({ length: 400 }, (_, i) => `item-${299 - (i % 300)}`),
      Array<number>(400).fill(3),
    );
    check('user-3', ['ghost-2'], ['item-1', 'item-2', 'unknown'], [0, 1, 2]);
    check('user-4', [], ['item-3'], [7]);
  });

  it('gives the same tensors when candidates and the request-level inputs are written in two steps', () => {
    check('user-5', ['item-8', 'ghost-3'], ['item-7', 'ghost-4', 'item-200'], [0, 40, 2], true);
    check('user-6', [], ['item-5'], [1], true);
  });

  it('fills history ages from the click times, 0 for padding', () => {
    const history = ['item-4', 'ghost-1', 'item-9', 'item-30', 'item-31', 'item-32', 'item-33'];
    const ages = check('user-7', history, ['item-1'], [0]);
    expect(ages.slice(0, 7)).toEqual([1, 1, 2, 2, 4, 18, 18]);
    expect(ages.slice(7).every((a) => a === 0)).toBe(true);
  });

  it('allocates one buffer per layout input and feeds them under the layout names and shapes', () => {
    const b = new InputBuffers(layout.inputs, 4);
    const feeds = b.feeds(2);
    expect(Object.entries(feeds).map(([n, t]) => [n, t.type, t.dims])).toEqual([
      ['user_cat', 'int64', [1, 5]],
      ['hist_cat', 'int64', [1, L, 2]],
      ['hist_multi', 'int64', [1, L, 5]],
      ['hist_vec', 'float32', [1, L, D]],
      ['hist_age', 'int64', [1, L]],
      ['cand_cat', 'int64', [2, 3]],
      ['cand_multi', 'int64', [2, 5]],
      ['cand_vec', 'float32', [2, D]],
    ]);
    expect((feeds.hist_age!.data as BigInt64Array).buffer).toBe(b.ids(4).data.buffer); // a view, no copy
  });
});

describe('FeatureAssembler on other slot kinds (vocabulary, bucketize, numeric, no sequence age)', () => {
  /** The demo plus an item numeric, an item vocabulary and a bucketized position; the sequence without age. */
  function extendedLayout(): ServingLayout {
    const repo = editableDemoRepo() as unknown as {
      entities: { name: string; attributes?: { name: string; type: string; default?: unknown }[] }[];
      features: Record<string, unknown>[];
    };
    repo.entities
      .find((e) => e.name === 'item')!
      .attributes!.push({ name: 'price', type: 'float', default: 2.5 }, { name: 'brand', type: 'string' });
    repo.features.splice(
      8,
      0,
      { name: 'price', kind: 'numeric', source: 'item.price', transform: 'log1p' },
      {
        name: 'brand',
        kind: 'categorical',
        source: 'item.brand',
        encoding: 'vocabulary',
        vocabulary: ['a', 'b'],
      },
      {
        name: 'slot',
        kind: 'numeric',
        source: 'context.position',
        transform: 'bucketize',
        boundaries: [1, 3],
      },
    );
    const hist = repo.features.find((f) => f.kind === 'sequence')!;
    hist.side_features = ['item_id', 'price', 'brand'];
    delete hist.age;
    return new ServingLayout(repo as never);
  }

  it('matches the training encoder slot by slot', () => {
    const layout = extendedLayout();
    expect(layout.inputs.map((i) => i.name)).toEqual([
      'user_cat',
      'hist_cat',
      'hist_num',
      'cand_cat',
      'cand_num',
      'cand_multi',
      'cand_vec',
    ]);
    const cache = new ItemCache(layout);
    const attrs = [{ price: 9, brand: 'b', category: 'x', tags: ['t'] }, { brand: 'zz' }, {}];
    attrs.forEach((a, i) => cache.upsertItem({ item_id: `i${i}`, ts_ms: 1, attributes: a }));
    const ids = ['i0', 'i1', 'i2', 'ghost'];
    const positions = [0, 2, 5, 1];
    const buffers = new InputBuffers(layout.inputs, 8);
    new FeatureAssembler(layout).assemble(cache, buffers, {
      userId: 'u',
      context: { country: 'DE' },
      tsMs: 1_700_000_000_000,
      sequences: [{ ids, rows: Int32Array.from(ids, (id) => cache.row(id)), tsMs: [] }],
      candidateIds: ids,
      candidateRows: Int32Array.from(ids, (id) => cache.row(id)),
      candidateContext: { position: positions },
    });
    const encoder = new LayoutEncoder(layout.repo);
    const side = (id: string, i: number): RawRecord => ({ row: { item_id: id, ...attrs[i] } });
    const expected = encoder.encodeRequest({
      ts_ms: 1_700_000_000_000,
      user: { row: { user_id: 'u' } },
      context: { country: 'DE' },
      sequences: { hist: ids.map(side) },
      candidates: ids.map((id, i) => ({ ...side(id, i), context: { position: positions[i] } })),
    });
    const feeds = buffers.feeds(ids.length);
    for (const [name, want] of Object.entries(expected))
      expect({ name, got: values(feeds[name]!.data as ArrayLike<number>) }).toEqual({
        name,
        got: values(want),
      });
    // price: log1p(9), log1p(default 2.5) for the item without one and the unknown one; brand: b, unknown, missing.
    expect(values(feeds.hist_num!.data as Float32Array, 4)).toEqual(
      [9, 2.5, 2.5, 2.5].map((p) => Math.fround(Math.log1p(p))),
    );
  });
});
