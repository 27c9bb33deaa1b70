import {
  encodeCandidates,
  encodeUser,
  loadFeatureSpec,
  parseFeatureSpec,
  type FeatureSpec,
  type RawItem,
} from '@mmctr/features';
import { ItemCache } from '../items/item-cache';
import { InputBuffers } from '../model/onnx-model';
import { FeatureAssembler } from './feature-assembler';

const spec = loadFeatureSpec();
const D = spec.multimodal.dim;
const L = spec.history.length;
const dims = { U: spec.user_fields.length, L, C: spec.candidate_fields.length, D };

/** A small deterministic catalogue: some items without vectors, some without tags. */
function catalogue(n: number): RawItem[] {
  return Array.from({ length: n }, (_, i) => ({
    item_id: `item-${i}`,
    category: i % 5 === 0 ? '' : `cat-${i % 9}`,
    tags: Array.from({ length: i % 8 }, (_, k) => (k === 2 ? '' : `tag-${(i * 7 + k) % 50}`)),
    mm: i % 3 === 0 ? null : Array.from({ length: D }, (_, k) => Math.cos(i + k * 0.1)),
  }));
}

function fill(cache: ItemCache, items: RawItem[]): void {
  for (const it of items) {
    cache.upsertItem({ item_id: it.item_id, category: it.category ?? '', tags: it.tags ?? [], ts_ms: 1 });
    if (it.mm) cache.upsertVector(it.item_id, it.mm, 1);
  }
}

// Click ages: now, the future, on and just below boundaries, the last boundary and beyond it.
const AGES = [0, -5_000, 600_000, 1_799_999, 3_600_000, 1_209_600_000, 5_000_000_000];

const ints = (a: BigInt64Array, n = a.length) => Array.from(a.subarray(0, n), Number);

describe('FeatureAssembler (serving encoder) against libs/features (the training encoder)', () => {
  const items = catalogue(300);
  const byId = new Map(items.map((it) => [it.item_id, it]));
  const cache = new ItemCache(D);
  fill(cache, items);
  const assembler = new FeatureAssembler();
  const buffers = new InputBuffers(dims, 500);

  function check(
    userId: string,
    historyIds: string[],
    candidateIds: string[],
    positions: number[],
    split = false,
    useSpec: FeatureSpec = spec,
  ) {
    const context = { device: 'android', placement: 'feed' };
    const tsMs = 1_700_000_000_000 + historyIds.length * 3_600_000;
    const raw = (id: string): RawItem => byId.get(id) ?? { item_id: id };
    const historyTsMs = historyIds.map((_, i) => tsMs - AGES[i % AGES.length]!);
    const input = {
      userId,
      context,
      tsMs,
      historyIds,
      historyRows: Int32Array.from(historyIds, (id) => cache.row(id)),
      historyTsMs,
      candidateIds,
      candidateRows: Int32Array.from(candidateIds, (id) => cache.row(id)),
      positions,
    };
    // split: the scorer's order, candidates while the history call is in flight, then user + history.
    const oov = split
      ? assembler.assembleCandidates(useSpec, cache, buffers, input) +
        assembler.assembleUserAndHistory(useSpec, cache, buffers, input)
      : assembler.assemble(useSpec, cache, buffers, input);
    const u = encodeUser(useSpec, {
      user_id: userId,
      ...context,
      ts_ms: tsMs,
      history: historyIds.map((id, i) => ({ ...raw(id), ts_ms: historyTsMs[i] })),
    });
    const c = encodeCandidates(
      useSpec,
      candidateIds.map((id, i) => ({ ...raw(id), position: positions[i] })),
    );
    const B = candidateIds.length;
    expect(ints(buffers.userFields.data)).toEqual(ints(u.userFields));
    expect(ints(buffers.histIds.data)).toEqual(ints(u.histIds));
    expect(ints(buffers.histCat.data)).toEqual(ints(u.histCat));
    expect(ints(buffers.histTags.data)).toEqual(ints(u.histTags));
    expect(Array.from(buffers.histMm)).toEqual(Array.from(u.histMm));
    expect(ints(buffers.histAge.data)).toEqual(ints(u.histAge));
    expect(ints(buffers.candFields.data, B * 3)).toEqual(ints(c.candFields));
    expect(ints(buffers.candTags.data, B * 5)).toEqual(ints(c.candTags));
    expect(Array.from(buffers.candMm.subarray(0, B * D))).toEqual(Array.from(c.candMm));
    const unknown = [...historyIds.slice(0, L), ...candidateIds].filter((id) => !byId.has(id)).length;
    expect(oov).toBe(unknown);
    return ints(buffers.histAge.data);
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

  it('gives the same tensors when candidates and user + history are written in two steps', () => {
    check('user-5', ['item-8', 'ghost-3'], ['item-7', 'ghost-4', 'item-200'], [0, 40, 2], true);
    check('user-6', [], ['item-5'], [1], true);
  });

  it('fills history ages from the click times: 0 for padding, 0 throughout for an fs-1 spec', () => {
    const history = ['item-4', 'ghost-1', 'item-9', 'item-30', 'item-31', 'item-32', 'item-33'];
    const ages = check('user-7', history, ['item-1'], [0]);
    expect(ages.slice(0, 7)).toEqual([1, 1, 2, 2, 4, 18, 18]);
    expect(ages.slice(7).every((a) => a === 0)).toBe(true);

    const raw = JSON.parse(JSON.stringify(spec)) as FeatureSpec;
    delete raw.history.age;
    const fs1 = parseFeatureSpec(raw);
    expect(check('user-8', history, ['item-1'], [0], false, fs1).every((a) => a === 0)).toBe(true);
  });

  it('feeds hist_age only to a model that declares it', () => {
    const withoutAge = new InputBuffers(dims, 4).feeds(2);
    expect(Object.keys(withoutAge)).not.toContain('hist_age');
    expect(Object.keys(withoutAge)).toHaveLength(8);
    const b = new InputBuffers(dims, 4, true);
    b.histAge.set(0, 3);
    const withAge = b.feeds(2);
    expect(Object.keys(withAge)).toHaveLength(9);
    expect(withAge.hist_age!.type).toBe('int64');
    expect(withAge.hist_age!.dims).toEqual([1, L]);
    expect(withAge.hist_age!.data).toBe(b.histAge.data);
    expect(Number((withAge.hist_age!.data as BigInt64Array)[0])).toBe(3);
  });
});
