import type { InputGroup, VectorSlot } from '@mmctr/feature-repo';
import {
  attributeDefault,
  categoricalEncoder,
  categoricalString,
  multiEncoder,
  numericEncoder,
  splitSource,
  type Hasher,
  type RawValue,
} from '@mmctr/features';
import type { ServingLayout } from '../layout/serving-layout';
import type { InputBuffers } from '../model/onnx-model';

/** Rows of a joined or raw-read entity by key (undefined: not known). */
export type EntityLookup = (entity: string, key: string) => Readonly<Record<string, RawValue>> | undefined;

/**
 * The rows of one group as raw slots read them: each row's key, its own attributes (for rows the item
 * cache holds: none, the cache's precomputed columns serve them) and the key it joins through an
 * attribute of its own.
 */
export interface RawRows {
  key(r: number): string;
  own(r: number): Readonly<Record<string, RawValue>> | null | undefined;
  joinKey(attr: string, r: number): string;
}

/** Rows whose attributes are at hand: the requester's, or a sequence target read from its hash. */
export function recordRows(
  keys: readonly string[],
  own: (r: number) => Readonly<Record<string, RawValue>> | null | undefined,
): RawRows {
  return { key: (r) => keys[r]!, own, joinKey: (attr, r) => categoricalString(own(r)?.[attr]) };
}

/** What a slot reads: an attribute of the row, or of an entity joined through the row's `via` attribute. */
interface SlotSource {
  source: string;
  via?: string;
}

type RawWrite = (rows: RawRows, entities: EntityLookup, buf: InputBuffers, n: number, total: number) => void;

/** Where a group's slots of one kind sit: the input and its values per row. */
type InputOf = (kind: 'cat' | 'num' | 'multi' | 'vec') => { input: number; stride: number };

/**
 * The slots of a group that read an entity row outside the item cache: the requester's own attributes,
 * entities joined `via` a key attribute, a sequence target other than the candidate entity. Each value
 * is read raw and encoded per row (missing: the attribute's default in the repository, as the trainer
 * fills it); padding rows of a sequence get 0. Vector slots of embeddings no store holds read zeros.
 */
export class RawSlots {
  private readonly writes: RawWrite[] = [];
  /** The joins the slots read through: the row's join attribute and the joined entity. */
  private readonly joins: { attr: string; entity: string }[] = [];

  constructor(
    private readonly layout: ServingLayout,
    group: InputGroup,
    rowEntity: string,
    input: InputOf,
    hasher: Hasher,
    /** Whether a slot is served elsewhere (context, the requester's key, the item cache). */
    servedElsewhere: (slot: SlotSource) => boolean,
  ) {
    const raw = (s: SlotSource) => !servedElsewhere(s);
    /** The raw slots of one kind, each with its index among the kind's slots, its reader and input. */
    const rawOf = <S extends SlotSource>(slots: readonly S[], kind: 'cat' | 'num' | 'multi') =>
      slots.flatMap((s, i) => (raw(s) ? [{ s, i, read: this.reader(s, rowEntity), ...input(kind) }] : []));
    for (const { s, i, read, input: k, stride } of rawOf(group.categorical, 'cat')) {
      const enc = categoricalEncoder(s, hasher);
      this.writes.push((rows, ent, buf, n, total) => {
        const out = buf.ids(k);
        for (let r = 0; r < total; r++) out.set(r * stride + i, r < n ? enc(read(rows, ent, r)) : 0);
      });
    }
    for (const { s, i, read, input: k, stride } of rawOf(group.numeric, 'num')) {
      const enc = numericEncoder(s, attributeDefault(layout.repo, s.source));
      this.writes.push((rows, ent, buf, n, total) => {
        const out = buf.values(k);
        for (let r = 0; r < total; r++) out[r * stride + i] = r < n ? enc(read(rows, ent, r)) : 0;
      });
    }
    for (const { s, read, input: k, stride } of rawOf(group.multi_categorical, 'multi')) {
      const enc = multiEncoder(s, hasher);
      this.writes.push((rows, ent, buf, n, total) => {
        const out = buf.ids(k);
        for (let r = 0; r < total; r++)
          if (r < n) enc(read(rows, ent, r), out, r * stride + s.offset);
          else out.fill(0, r * stride + s.offset, r * stride + s.offset + s.max_length);
      });
    }
    for (const s of group.vector) if (!layout.readsStoredVector(s)) this.zeros(s, input('vec'));
    for (const s of [...group.categorical, ...group.numeric, ...group.multi_categorical]) {
      if (!raw(s) || !s.via) continue;
      const attr = splitSource(s.via)[1];
      const entity = splitSource(s.source)[0];
      if (!this.joins.some((j) => j.attr === attr && j.entity === entity)) this.joins.push({ attr, entity });
    }
  }

  /** Hands `want` the joined rows the first n rows point at. */
  joinWants(rows: RawRows, n: number, want: (entity: string, key: string) => void): void {
    for (const j of this.joins) for (let r = 0; r < n; r++) want(j.entity, rows.joinKey(j.attr, r));
  }

  /** Whether the group has any raw slot (the scorer skips the group's raw reads otherwise). */
  get size(): number {
    return this.writes.length;
  }

  /** Writes `total` rows, the first `n` from `rows`, the rest padding. */
  write(rows: RawRows, entities: EntityLookup, buf: InputBuffers, n: number, total: number): void {
    for (const w of this.writes) w(rows, entities, buf, n, total);
  }

  private zeros(s: VectorSlot, { input, stride }: { input: number; stride: number }): void {
    this.writes.push((_rows, _ent, buf, _n, total) => {
      const out = buf.values(input);
      for (let r = 0; r < total; r++) out.fill(0, r * stride + s.offset, r * stride + s.offset + s.width);
    });
  }

  /** The raw value a slot reads for row r; missing -> the attribute's declared default. */
  private reader(
    s: SlotSource,
    rowEntity: string,
  ): (rows: RawRows, entities: EntityLookup, r: number) => RawValue {
    const [ns, attr] = splitSource(s.source);
    const fallback = attributeDefault(this.layout.repo, s.source);
    const isKey = attr === this.layout.keyOf(ns);
    const orDefault = (v: RawValue) => (v === undefined || v === null ? fallback : v);
    if (s.via) {
      const join = splitSource(s.via)[1];
      return (rows, entities, r) => {
        const key = rows.joinKey(join, r);
        if (key === '') return fallback;
        return isKey ? key : orDefault(entities(ns, key)?.[attr]);
      };
    }
    if (ns !== rowEntity)
      throw new Error(`features: '${s.source}' is neither the ${rowEntity} row nor joined to it`);
    return (rows, _entities, r) => (isKey ? rows.key(r) : orDefault(rows.own(r)?.[attr]));
  }
}
