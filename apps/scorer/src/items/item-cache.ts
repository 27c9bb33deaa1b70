import {
  categoricalEncoder,
  categoricalString,
  Hasher,
  multiEncoder,
  numericEncoder,
  type RawValue,
} from '@mmctr/features';
import { keyText } from '@mmctr/aggregates';
import type { ItemSlot, ServingLayout } from '../layout/serving-layout';

/** One precomputed slot of every cached item, indexed by row (multi: row * width). */
export type ItemColumn = Int32Array | Float32Array;

export interface ItemRecord {
  item_id: string;
  ts_ms: number;
  /** The item's attributes by name (those the layout reads; others are ignored). */
  attributes: Readonly<Record<string, RawValue>>;
}

/** A slot's encoder of one item's attribute value into its column at `row`. */
interface SlotEncoder {
  width: number;
  /** The value for an item the cache does not know (key slots are encoded from the id instead). */
  missing: number;
  write(column: ItemColumn, row: number, value: RawValue): void;
}

function slotEncoder(s: ItemSlot, hasher: Hasher): SlotEncoder {
  switch (s.kind) {
    case 'cat': {
      const enc = categoricalEncoder(s.slot, hasher);
      return { width: 1, missing: enc(undefined), write: (c, r, v) => (c[r] = enc(v)) };
    }
    case 'num': {
      const enc = numericEncoder(s.slot, s.fallback);
      return { width: 1, missing: enc(undefined), write: (c, r, v) => (c[r] = enc(v)) };
    }
    case 'multi': {
      const enc = multiEncoder(s.slot, hasher);
      const w = s.slot.max_length;
      return {
        width: w,
        missing: 0,
        write: (c, r, v) => enc(v, { set: (i, id) => (c[i] = id) }, r * w),
      };
    }
  }
}

/**
 * In-process columnar item cache: one row per item; every slot of the layout that reads the item
 * (candidate- and sequence-side: ids, multi-ids, numbers) precomputed into a typed column at upsert, and
 * the item's vector, so a request copies values without hashing or allocating.
 */
export class ItemCache {
  private readonly rowOf = new Map<string, number>();
  private ids: string[] = [];
  private itemTs = new Float64Array(0);
  private vectorTs = new Float64Array(0);
  private vectors = new Float32Array(0);
  /** 1 where the row has a vector. */
  private hasVector = new Uint8Array(0);
  private capacity = 0;
  private readonly encoders: SlotEncoder[];
  /** Parallel to layout.itemSlots. */
  private cols: ItemColumn[];
  /** Per layout.itemJoinAttributes: each row's join key ('' when the item has none). */
  private readonly joinKeys: string[][];
  /** Per layout.aggregateKeyAttributes: each row's attribute as aggregation keys write it. */
  private readonly aggregateKeys: string[][];
  /** Width of the held vectors (the layout's item embedding; 0 when it reads none). */
  readonly dim: number;

  constructor(
    readonly layout: ServingLayout,
    initialCapacity = 1024,
    hasher = new Hasher(),
  ) {
    this.dim = layout.embedding?.width ?? 0;
    this.encoders = layout.itemSlots.map((s) => slotEncoder(s, hasher));
    this.cols = layout.itemSlots.map((s) => (s.kind === 'num' ? new Float32Array(0) : new Int32Array(0)));
    this.joinKeys = layout.itemJoinAttributes.map(() => []);
    this.aggregateKeys = layout.aggregateKeyAttributes.map(() => []);
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

  /** The precomputed columns, parallel to layout.itemSlots (replaced when the cache grows: read per request). */
  get columns(): readonly ItemColumn[] {
    return this.cols;
  }

  /** The key of the entity row `row` joins through layout.itemJoinAttributes[j] ('' for none, -1 rows too). */
  joinKey(j: number, row: number): string {
    return row < 0 ? '' : this.joinKeys[j]![row]!;
  }

  /**
   * The text aggregation keys hold for layout.aggregateKeyAttributes[j] of row `row`: the attribute as
   * ingest writes it into a counter key, its fallback when the item has none or is unknown (-1).
   */
  aggregateKey(j: number, row: number): string {
    return row < 0 ? this.layout.aggregateKeyAttributes[j]!.fallback : this.aggregateKeys[j]![row]!;
  }

  /** Value of item slot `i` for an item the cache does not know. */
  missingValue(i: number): number {
    return this.encoders[i]!.missing;
  }

  /** Inserts or updates an item's features; an older version than the cached one is ignored. */
  upsertItem(item: ItemRecord): number {
    let r = this.rowOf.get(item.item_id);
    if (r === undefined) r = this.addRow(item.item_id);
    else if (this.itemTs[r]! > item.ts_ms) return r;
    this.itemTs[r] = item.ts_ms;
    this.encodeRow(r, item.attributes);
    return r;
  }

  /** Sets an item's vector (truncated or zero-padded to dim); older vectors are ignored. */
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
    // By a quarter, not double: a catalogue just past a capacity would otherwise hold nearly twice its
    // columns (vectors are most of an item's bytes), and a growth holds the old and the new ones at once.
    if (r >= this.capacity) this.grow(Math.max(1024, Math.ceil(this.capacity * 1.25)));
    this.ids.push(itemId);
    this.rowOf.set(itemId, r);
    this.encodeRow(r, {});
    return r;
  }

  /** Every item slot of row r from the item's attributes (the key attribute is the item's id). */
  private encodeRow(r: number, attributes: Readonly<Record<string, RawValue>>): void {
    const key = this.layout.candidateKey;
    this.layout.itemSlots.forEach((s, i) => {
      const value = s.attr === key ? this.ids[r] : attributes[s.attr];
      this.encoders[i]!.write(this.cols[i]!, r, value);
    });
    this.layout.itemJoinAttributes.forEach(
      (a, j) => (this.joinKeys[j]![r] = categoricalString(attributes[a])),
    );
    this.layout.aggregateKeyAttributes.forEach((a, j) => {
      const v = attributes[a.name];
      this.aggregateKeys[j]![r] = v === undefined || v === null ? a.fallback : keyText(v);
    });
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
    this.cols = this.layout.itemSlots.map((s, i) => {
      const size = capacity * this.encoders[i]!.width;
      const old = this.cols[i]!;
      return s.kind === 'num'
        ? copy(old as Float32Array, new Float32Array(size))
        : copy(old as Int32Array, new Int32Array(size));
    });
    this.capacity = capacity;
  }
}
