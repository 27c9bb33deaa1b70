import { Hasher, TAG_SLOTS as SPEC_TAG_SLOTS, type FeatureSpec } from '@mmctr/features';

// A plain local: an imported binding is a getter under CommonJS, too slow for per-row loops.
const TAG_SLOTS = SPEC_TAG_SLOTS;

/** Hash layout an encoded column set belongs to (two specs with the same buckets share ids). */
export function encodingKey(spec: FeatureSpec): string {
  const b = (n: string) => spec.candidate_fields.find((f) => f.name === n)?.buckets ?? 0;
  return `${b('item_id')}/${b('category')}/${spec.tags.field}/${spec.tags.buckets}`;
}

/** Model ids of every cached item for one hash layout, indexed by row. */
export interface EncodedColumns {
  itemId: Int32Array;
  category: Int32Array;
  tags: Int32Array; // row * TAG_SLOTS
}

interface Encoding {
  spec: FeatureSpec;
  columns: EncodedColumns;
}

export interface ItemRecord {
  item_id: string;
  category: string;
  tags: readonly string[];
  ts_ms: number;
}

/**
 * In-process columnar item cache: one row per item, features in typed arrays indexed by row, so a
 * request copies ids and vectors without allocating. Hashed ids are precomputed per registered spec
 * layout (production and shadow may differ); raw category and tags stay to re-encode for a new layout.
 */
export class ItemCache {
  private readonly rowOf = new Map<string, number>();
  private ids: string[] = [];
  private categories: string[] = [];
  private tagLists: (readonly string[])[] = [];
  private itemTs = new Float64Array(0);
  private vectorTs = new Float64Array(0);
  private vectors = new Float32Array(0);
  /** 1 where the row has a vector. */
  private hasVector = new Uint8Array(0);
  private capacity = 0;
  private readonly encodings = new Map<string, Encoding>();
  private readonly hasher = new Hasher();

  constructor(
    readonly dim: number,
    initialCapacity = 1024,
  ) {
    this.grow(initialCapacity);
  }

  get size(): number {
    return this.ids.length;
  }

  row(itemId: string): number {
    return this.rowOf.get(itemId) ?? -1;
  }

  itemId(row: number): string {
    return this.ids[row]!;
  }

  hasVectorAt(row: number): boolean {
    return this.hasVector[row] === 1;
  }

  /** The row's vector (a view; do not keep it). */
  vectorAt(row: number): Float32Array {
    return this.vectors.subarray(row * this.dim, (row + 1) * this.dim);
  }

  get vectorData(): Float32Array {
    return this.vectors;
  }

  /** Encoded columns for a spec's layout, built on first use. */
  columns(spec: FeatureSpec): EncodedColumns {
    const key = encodingKey(spec);
    let enc = this.encodings.get(key);
    if (!enc) {
      enc = { spec, columns: this.allocColumns(this.capacity) };
      this.encodings.set(key, enc);
      for (let r = 0; r < this.ids.length; r++) this.encodeRow(enc, r);
    }
    return enc.columns;
  }

  /** Inserts or updates an item's features; an older version than the cached one is ignored. */
  upsertItem(item: ItemRecord): number {
    let r = this.rowOf.get(item.item_id);
    if (r === undefined) r = this.addRow(item.item_id);
    else if (this.itemTs[r]! > item.ts_ms) return r;
    this.categories[r] = item.category;
    this.tagLists[r] = item.tags;
    this.itemTs[r] = item.ts_ms;
    for (const enc of this.encodings.values()) this.encodeRow(enc, r);
    return r;
  }

  /** Sets an item's fused vector (truncated or zero-padded to dim); older vectors are ignored. */
  upsertVector(itemId: string, vec: ArrayLike<number>, createdMs: number): number {
    let r = this.rowOf.get(itemId);
    if (r === undefined) r = this.addRow(itemId);
    else if (this.hasVector[r] === 1 && this.vectorTs[r]! > createdMs) return r;
    const off = r * this.dim;
    const n = Math.min(vec.length, this.dim);
    for (let i = 0; i < n; i++) this.vectors[off + i] = vec[i]!;
    this.vectors.fill(0, off + n, off + this.dim);
    this.hasVector[r] = 1;
    this.vectorTs[r] = createdMs;
    return r;
  }

  private addRow(itemId: string): number {
    const r = this.ids.length;
    if (r >= this.capacity) this.grow(Math.max(1024, this.capacity * 2));
    this.ids.push(itemId);
    this.categories.push('');
    this.tagLists.push([]);
    this.rowOf.set(itemId, r);
    for (const enc of this.encodings.values()) this.encodeRow(enc, r);
    return r;
  }

  private encodeRow(enc: Encoding, r: number): void {
    const { spec, columns } = enc;
    const itemBuckets = spec.candidate_fields.find((f) => f.name === 'item_id')!.buckets;
    const catBuckets = spec.candidate_fields.find((f) => f.name === 'category')!.buckets;
    columns.itemId[r] = this.hasher.bucket('item_id', this.ids[r], itemBuckets);
    columns.category[r] = this.hasher.bucket('category', this.categories[r], catBuckets);
    // Same rule as libs/features writeTags: the first TAG_SLOTS non-empty tags, the rest 0.
    const base = r * TAG_SLOTS;
    columns.tags.fill(0, base, base + TAG_SLOTS);
    let k = 0;
    for (const t of this.tagLists[r] ?? []) {
      if (k >= TAG_SLOTS) break;
      if (!t) continue;
      columns.tags[base + k] = this.hasher.bucket(spec.tags.field, t, spec.tags.buckets);
      k++;
    }
  }

  private allocColumns(capacity: number): EncodedColumns {
    return {
      itemId: new Int32Array(capacity),
      category: new Int32Array(capacity),
      tags: new Int32Array(capacity * TAG_SLOTS),
    };
  }

  private grow(capacity: number): void {
    const copy = <T extends Float64Array | Float32Array | Uint8Array | Int32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.itemTs = copy(this.itemTs, new Float64Array(capacity));
    this.vectorTs = copy(this.vectorTs, new Float64Array(capacity));
    this.vectors = copy(this.vectors, new Float32Array(capacity * this.dim));
    this.hasVector = copy(this.hasVector, new Uint8Array(capacity));
    for (const enc of this.encodings.values()) {
      const c = this.allocColumns(capacity);
      c.itemId.set(enc.columns.itemId);
      c.category.set(enc.columns.category);
      c.tags.set(enc.columns.tags);
      enc.columns = c;
    }
    this.capacity = capacity;
  }
}
