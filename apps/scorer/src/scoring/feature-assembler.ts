import {
  clickAgeBucket,
  Hasher,
  hourOfDay,
  positionValue,
  TAG_SLOTS as SPEC_TAG_SLOTS,
  type FeatureSpec,
} from '@mmctr/features';
import type { EncodedColumns, ItemCache } from '../items/item-cache';
import type { IdBuffer, InputBuffers } from '../model/onnx-model';
import type { ScoreContext } from './score-request';

// A plain local: an imported binding is a getter under CommonJS, too slow for the inner loops.
const TAG_SLOTS = SPEC_TAG_SLOTS;

export interface AssemblyInput {
  userId: string;
  context: ScoreContext;
  tsMs: number;
  /** History item ids, newest first, and their cache rows (-1 = unknown). */
  historyIds: readonly string[];
  historyRows: Int32Array;
  /** Click times of historyIds (same order); a missing one gets age bucket 0. */
  historyTsMs: readonly number[];
  candidateIds: readonly string[];
  candidateRows: Int32Array;
  positions: readonly number[];
}

/**
 * Writes one request's model inputs into preallocated buffers, following the feature spec exactly
 * like libs/features encodeUser / encodeCandidates (same hash, same clipping, same age buckets,
 * zeros for missing): cached items copy precomputed ids and vectors; unknown ones get their hashed
 * id, 0 for category and tags, and a zero vector. Returns how many items were out of vocabulary.
 */
export class FeatureAssembler {
  private readonly hasher = new Hasher();
  /** Position ids of a clipped position field, per spec: index = clipped value - clip[0]. */
  private readonly positionTables = new WeakMap<FeatureSpec, Int32Array>();

  private positionId(spec: FeatureSpec, position: number): number {
    const f = spec.candidate_fields[2]!;
    if (!f.clip || !Number.isInteger(position)) {
      return this.hasher.bucket(f.name, positionValue(position, f.clip), f.buckets);
    }
    const [lo, hi] = f.clip;
    let table = this.positionTables.get(spec);
    if (!table) {
      table = new Int32Array(hi - lo + 1);
      for (let p = lo; p <= hi; p++)
        table[p - lo] = this.hasher.bucket(f.name, positionValue(p, f.clip), f.buckets);
      this.positionTables.set(spec, table);
    }
    return table[Math.min(Math.max(position, lo), hi) - lo]!;
  }

  assemble(spec: FeatureSpec, cache: ItemCache, buf: InputBuffers, input: AssemblyInput): number {
    return (
      this.assembleCandidates(spec, cache, buf, input) + this.assembleUserAndHistory(spec, cache, buf, input)
    );
  }

  /** User fields and history rows (needs the history; the scorer runs it after the Redis call). */
  assembleUserAndHistory(
    spec: FeatureSpec,
    cache: ItemCache,
    buf: InputBuffers,
    input: Pick<AssemblyInput, 'userId' | 'context' | 'tsMs' | 'historyIds' | 'historyRows' | 'historyTsMs'>,
  ): number {
    const { L, D } = buf.dims;
    const cols = cache.columns(spec);
    const h = this.hasher;
    let oov = 0;

    const userValues: Record<string, string | undefined> = {
      user_id: input.userId,
      device: input.context.device,
      placement: input.context.placement,
      country: input.context.country,
      hour_of_day: hourOfDay(input.tsMs),
    };
    spec.user_fields.forEach((f, i) =>
      buf.userFields.set(i, h.bucket(f.name, userValues[f.name], f.buckets)),
    );

    // Slots past the history (row -1 too) are all zeros, id included.
    const n = Math.min(L, input.historyIds.length);
    const boundaries = spec.history.age?.boundaries_ms;
    for (let i = 0; i < L; i++) {
      buf.histAge.set(
        i,
        i < n && boundaries ? clickAgeBucket(input.tsMs, input.historyTsMs[i], boundaries) : 0,
      );
      const row = i < n ? input.historyRows[i]! : -1;
      if (i < n && row < 0) oov++;
      buf.histIds.set(i, i < n ? this.itemId(spec, cols, row, input.historyIds[i]) : 0);
      buf.histCat.set(i, row >= 0 ? cols.category[row]! : 0);
      copyTagsAndVector(cache, cols, row, buf.histTags, i * TAG_SLOTS, buf.histMm, i * D, D);
    }
    return oov;
  }

  /** Candidate rows only (independent of the history, so it overlaps the Redis history call). */
  assembleCandidates(
    spec: FeatureSpec,
    cache: ItemCache,
    buf: InputBuffers,
    input: Pick<AssemblyInput, 'candidateIds' | 'candidateRows' | 'positions'>,
  ): number {
    const { C, D } = buf.dims;
    const cols = cache.columns(spec);
    let oov = 0;

    for (let b = 0; b < input.candidateIds.length; b++) {
      const row = input.candidateRows[b]!;
      const f = b * C;
      if (row < 0) oov++;
      buf.candFields.set(f, this.itemId(spec, cols, row, input.candidateIds[b]));
      buf.candFields.set(f + 1, row >= 0 ? cols.category[row]! : 0);
      buf.candFields.set(f + 2, this.positionId(spec, input.positions[b]!));
      copyTagsAndVector(cache, cols, row, buf.candTags, b * TAG_SLOTS, buf.candMm, b * D, D);
    }
    return oov;
  }

  /** The cached row's item id, or for an unknown item (row -1) its id hashed like the trainer's. */
  private itemId(spec: FeatureSpec, cols: EncodedColumns, row: number, id: string | undefined): number {
    if (row >= 0) return cols.itemId[row]!;
    return this.hasher.bucket('item_id', id, spec.candidate_fields[0]!.buckets);
  }
}

/**
 * The item's tags into tags[t, t + TAG_SLOTS) and its fused vector into mm[m, m + D): the cached
 * row's, or zeros for an unknown item (row -1).
 */
function copyTagsAndVector(
  cache: ItemCache,
  cols: EncodedColumns,
  row: number,
  tags: IdBuffer,
  t: number,
  mm: Float32Array,
  m: number,
  D: number,
): void {
  if (row < 0) {
    tags.fill(0, t, t + TAG_SLOTS);
    mm.fill(0, m, m + D);
    return;
  }
  for (let k = 0; k < TAG_SLOTS; k++) tags.set(t + k, cols.tags[row * TAG_SLOTS + k]!);
  copyVector(cache, row, mm, m, D);
}

/** The cached row's fused vector into dst[at, at + D): truncated or zero-padded to D; zeros if it has none. */
function copyVector(cache: ItemCache, row: number, dst: Float32Array, at: number, D: number): void {
  if (!cache.hasVectorAt(row)) {
    dst.fill(0, at, at + D);
    return;
  }
  const n = Math.min(D, cache.dim);
  dst.set(cache.vectorData.subarray(row * cache.dim, row * cache.dim + n), at);
  dst.fill(0, at + n, at + D);
}
