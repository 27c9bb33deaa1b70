import type { CategoricalSlot, InputGroup, NumericSlot } from '@mmctr/feature-repo';
import {
  categoricalEncoder,
  clickAgeBucket,
  Hasher,
  multiEncoder,
  numericEncoder,
  attributeDefault,
  splitSource,
  type CategoricalEncoder,
  type RawValue,
} from '@mmctr/features';
import type { ItemCache } from '../items/item-cache';
import { isAggregateSlot, type ServingLayout } from '../layout/serving-layout';
import type { IdBuffer, InputBuffers } from '../model/onnx-model';
import type { EntityWants } from '../entities/entity-cache.service';
import { RawSlots, recordRows, type EntityLookup, type RawRows } from './raw-slots';

/** One sequence's entries for a request: target keys newest first, their cache rows and event times. */
export interface SequenceInput {
  ids: readonly string[];
  /** Item cache rows (-1 = unknown) when the target is the candidate entity; else unused. */
  rows: Int32Array;
  /** Event times of ids (same order); a missing one gets age bucket 0. */
  tsMs: readonly number[];
}

export interface AssemblyInput {
  userId: string;
  /** The request's context attributes (scope request). */
  context: Readonly<Record<string, RawValue>>;
  tsMs: number;
  /** Per layout sequence (layout order). */
  sequences: readonly SequenceInput[];
  candidateIds: readonly string[];
  candidateRows: Int32Array;
  /** Candidate-scope context attributes: one value per candidate, by attribute name. */
  candidateContext: Readonly<Record<string, readonly RawValue[] | undefined>>;
  /** The requester's stored attributes (null / absent: none; slots read their defaults). */
  requester?: Readonly<Record<string, RawValue>> | null;
  /** Joined entities and sequence targets read raw (absent: none known). */
  entities?: EntityLookup;
  /**
   * Per layout.aggregates: the raw window values, one (user side) or one per candidate (absent: not
   * read; the slots read 0).
   */
  aggregates?: readonly Float64Array[];
}

/** An aggregate slot: the window it reads (index in layout.aggregates) and its encoder into its input. */
interface AggregateWrite {
  aggregate: number;
  input: number;
  stride: number;
  offset: number;
  float: boolean;
  encode: (v: number) => number;
  /** One value per request (user side) or per candidate. */
  perCandidate: boolean;
}

const noEntities: EntityLookup = () => undefined;

/** A precomputed item column copied into an input, per candidate or per history entry. */
interface ItemWrite {
  /** Index in cache.columns. */
  column: number;
  /** Index in the layout's inputs / the buffers. */
  input: number;
  /** Values per row of the input, and this slot's first column in it. */
  stride: number;
  offset: number;
  /** Values per item (1, or a multi slot's max_length). */
  width: number;
  float: boolean;
  /** For the key slot: the id of an item the cache does not know. */
  keyEncoder?: CategoricalEncoder;
  /** The value of an unknown item (padding rows get 0). */
  missing: number;
}

interface VectorWrite {
  input: number;
  stride: number;
  offset: number;
  width: number;
}

/** The item-reading slots of one group (candidates or a sequence), compiled. */
interface ItemPlan {
  ids: ItemWrite[];
  floats: ItemWrite[];
  vectors: VectorWrite[];
}

/** A candidate-scope context slot: its encoder, and a lookup table for clipped integer values. */
interface CandidateContextWrite {
  input: number;
  stride: number;
  offset: number;
  float: boolean;
  attr: string;
  encode: (v: RawValue) => number;
  /** encode(clip[0] + i) at i, for integer values (clipping makes the range small). */
  table?: { lo: number; hi: number; ids: Float64Array };
}

interface SequencePlan {
  length: number;
  /** The target is the candidate entity: item slots copy the item cache's columns. */
  itemTarget: boolean;
  target: string;
  items: ItemPlan;
  raw: RawSlots;
  age?: { input: number; boundaries: readonly number[] };
}

/** A request-level slot writer (runs once per request). */
type RequestWrite = (input: AssemblyInput, buf: InputBuffers) => void;

const TABLE_MAX = 4096;

/**
 * Writes one request's model inputs into preallocated buffers, following the serving layout: compiled
 * once per layout into slot writers by kind and source. Request-level slots (context, the requester's
 * key) are encoded once per request; candidate and sequence slots that read the item copy the item
 * cache's precomputed columns and vectors (an unknown item gets its hashed key, the missing value of
 * every other slot and a zero vector); candidate context slots (position) go through a lookup table.
 * Same encodings as libs/features LayoutEncoder. Returns how many items were out of vocabulary.
 */
export class FeatureAssembler {
  private readonly hasher = new Hasher();
  private readonly request: RequestWrite[] = [];
  private readonly candidates: ItemPlan;
  private readonly candidateContext: CandidateContextWrite[] = [];
  private readonly sequences: SequencePlan[];
  private readonly userRaw: RawSlots;
  private readonly candidateRaw: RawSlots;
  private readonly joinIndex: ReadonlyMap<string, number>;
  private readonly aggregateWrites: AggregateWrite[] = [];

  constructor(readonly layout: ServingLayout) {
    const index = (name: string) => layout.inputs.findIndex((i) => i.name === name);
    const inputOf = (prefix: string) => (kind: string) => {
      const k = index(`${prefix}_${kind}`);
      return { input: k, stride: k < 0 ? 0 : this.layout.inputs[k]!.rowShape.at(-1)! };
    };
    const { user, candidate } = layout.layout;
    this.joinIndex = new Map(layout.itemJoinAttributes.map((a, j) => [a, j]));
    this.compileRequest(user, index);
    this.userRaw = new RawSlots(
      layout,
      user,
      layout.requesterEntity,
      inputOf('user'),
      this.hasher,
      (s) => this.servedAsRequest(s) || isAggregateSlot(s),
    );
    this.candidates = this.compileItems(candidate, 'cand', index);
    this.candidateRaw = new RawSlots(
      layout,
      candidate,
      layout.candidateEntity,
      inputOf('cand'),
      this.hasher,
      (s) => splitSource(s.source)[0] === 'context' || layout.readsItem(s) || isAggregateSlot(s),
    );
    this.compileAggregates(user, inputOf('user'), false);
    this.compileAggregates(candidate, inputOf('cand'), true);
    this.compileCandidateContext(candidate, index);
    this.sequences = layout.layout.sequences.map((s) => ({
      length: s.length,
      itemTarget: s.target === layout.candidateEntity,
      target: s.target,
      items: this.compileItems(s, s.name, index),
      raw: new RawSlots(layout, s, s.target, inputOf(s.name), this.hasher, (slot) => layout.readsItem(slot)),
      ...(s.age ? { age: { input: index(`${s.name}_age`), boundaries: s.age.boundaries_ms } } : {}),
    }));
  }

  assemble(cache: ItemCache, buf: InputBuffers, input: AssemblyInput): number {
    return this.assembleCandidates(cache, buf, input) + this.assembleRequest(cache, buf, input);
  }

  /**
   * Request-level inputs, the sequences and the candidates' joined slots (needs the requester's data
   * and the joined rows: the scorer runs it after the Redis calls).
   */
  assembleRequest(cache: ItemCache, buf: InputBuffers, input: AssemblyInput): number {
    for (const w of this.request) w(input, buf);
    const entities = input.entities ?? noEntities;
    if (this.userRaw.size)
      this.userRaw.write(
        recordRows([input.userId], () => input.requester),
        entities,
        buf,
        1,
        1,
      );
    const B = input.candidateIds.length;
    if (this.candidateRaw.size)
      this.candidateRaw.write(
        this.itemRows(cache, input.candidateIds, input.candidateRows),
        entities,
        buf,
        B,
        B,
      );
    for (const w of this.aggregateWrites) writeAggregate(w, buf, input, B);
    let oov = 0;
    this.sequences.forEach((s, k) => (oov += this.writeSequence(s, cache, buf, input, input.sequences[k])));
    return oov;
  }

  /** The aggregate slots of a group: numeric ones take the raw window value, bucketised ones its bucket. */
  private compileAggregates(
    group: InputGroup,
    inputOf: (kind: 'cat' | 'num') => { input: number; stride: number },
    perCandidate: boolean,
  ): void {
    const add = (s: CategoricalSlot | NumericSlot, i: number, float: boolean) => {
      if (!isAggregateSlot(s)) return;
      const encode = float
        ? numericEncoder(s as NumericSlot, 0)
        : categoricalEncoder(s as CategoricalSlot, this.hasher);
      const { input, stride } = inputOf(float ? 'num' : 'cat');
      const aggregate = this.layout.aggregateIndex(s);
      this.aggregateWrites.push({ aggregate, input, stride, offset: i, float, encode, perCandidate });
    };
    group.categorical.forEach((s, i) => add(s, i, false));
    group.numeric.forEach((s, i) => add(s, i, true));
  }

  private writeSequence(
    s: SequencePlan,
    cache: ItemCache,
    buf: InputBuffers,
    input: AssemblyInput,
    entries: SequenceInput | undefined,
  ): number {
    const ids = entries?.ids ?? [];
    const n = Math.min(s.length, ids.length);
    const entities = input.entities ?? noEntities;
    let oov = 0;
    if (s.itemTarget) {
      const rows = entries!.rows;
      oov = writeItems(s.items, cache, buf, rows, ids, n, s.length);
      if (s.raw.size) s.raw.write(this.itemRows(cache, ids, rows), entities, buf, n, s.length);
    } else if (s.raw.size) {
      s.raw.write(
        recordRows(ids, (r) => entities(s.target, ids[r]!)),
        entities,
        buf,
        n,
        s.length,
      );
    }
    if (s.age) {
      const out = buf.ids(s.age.input);
      for (let i = 0; i < s.length; i++)
        out.set(i, i < n ? clickAgeBucket(input.tsMs, entries!.tsMs[i], s.age.boundaries) : 0);
    }
    return oov;
  }

  /**
   * The keys of the entities a request reads raw: each other-target sequence's entries (`targets`), or
   * (`joins`) the rows its join attributes point at, from the requester, the candidates and every
   * sequence's rows (other-target rows must be loaded before their joins are known).
   */
  rawWants(cache: ItemCache, input: AssemblyInput, what: 'targets' | 'joins'): EntityWants {
    const wants: EntityWants = new Map();
    const want = (entity: string, key: string) => {
      if (key === '') return;
      let keys = wants.get(entity);
      if (!keys) wants.set(entity, (keys = new Set()));
      keys.add(key);
    };
    const entities = input.entities ?? noEntities;
    this.sequences.forEach((s, k) => {
      const ids = input.sequences[k]?.ids ?? [];
      const n = Math.min(s.length, ids.length);
      if (what === 'targets') {
        if (!s.itemTarget) for (let r = 0; r < n; r++) want(s.target, ids[r]!);
        return;
      }
      const rows = s.itemTarget
        ? this.itemRows(cache, ids, input.sequences[k]!.rows)
        : recordRows(ids, (r) => entities(s.target, ids[r]!));
      s.raw.joinWants(rows, n, want);
    });
    if (what === 'targets') return wants;
    this.userRaw.joinWants(
      recordRows([input.userId], () => input.requester),
      1,
      want,
    );
    this.candidateRaw.joinWants(
      this.itemRows(cache, input.candidateIds, input.candidateRows),
      input.candidateIds.length,
      want,
    );
    return wants;
  }

  /** Rows the item cache holds: their join keys come from the cache (their own slots are precomputed). */
  private itemRows(cache: ItemCache, ids: readonly string[], rows: Int32Array): RawRows {
    return {
      key: (r) => ids[r]!,
      own: () => undefined,
      joinKey: (attr, r) => {
        const j = this.joinIndex.get(attr);
        return j === undefined ? '' : cache.joinKey(j, rows[r]!);
      },
    };
  }

  /** User slots the request itself serves: its context and the requester's key. */
  private servedAsRequest(s: { source: string; via?: string }): boolean {
    const [ns, attr] = splitSource(s.source);
    return (
      ns === 'context' || (!s.via && ns === this.layout.requesterEntity && attr === this.layout.requesterKey)
    );
  }

  /** Candidate rows only (independent of the history, so it overlaps the Redis history call). */
  assembleCandidates(
    cache: ItemCache,
    buf: InputBuffers,
    input: Pick<AssemblyInput, 'candidateIds' | 'candidateRows' | 'candidateContext'>,
  ): number {
    const B = input.candidateIds.length;
    for (const w of this.candidateContext) writeCandidateContext(w, buf, input, B);
    return writeItems(this.candidates, cache, buf, input.candidateRows, input.candidateIds, B, B);
  }

  /** Context and requester-key slots: one value per request. */
  private compileRequest(group: InputGroup, index: (name: string) => number): void {
    const cat = index('user_cat');
    const num = index('user_num');
    const multi = index('user_multi');
    group.categorical.forEach((s, i) => {
      if (!this.servedAsRequest(s)) return;
      const read = this.requestReader(s.source);
      const enc = categoricalEncoder(s, this.hasher);
      this.request.push((input, buf) => buf.ids(cat).set(i, enc(read(input))));
    });
    group.numeric.forEach((s, i) => {
      if (!this.servedAsRequest(s)) return;
      const read = this.requestReader(s.source);
      const enc = numericEncoder(s, attributeDefault(this.layout.repo, s.source));
      this.request.push((input, buf) => (buf.values(num)[i] = enc(read(input))));
    });
    for (const s of group.multi_categorical) {
      if (!this.servedAsRequest(s)) continue;
      const read = this.requestReader(s.source);
      const enc = multiEncoder(s, this.hasher);
      this.request.push((input, buf) => enc(read(input), buf.ids(multi), s.offset));
    }
  }

  private requestReader(source: string): (input: AssemblyInput) => RawValue {
    const [ns, attr] = splitSource(source);
    if (ns !== 'context') return (input) => input.userId; // the requester's key (servedAsRequest)
    if (attr === 'ts_ms') return (input) => input.tsMs;
    return (input) => input.context[attr];
  }

  /** The item-reading slots of a group whose inputs are named `<prefix>_{cat,num,multi,vec}`. */
  private compileItems(group: InputGroup, prefix: string, index: (name: string) => number): ItemPlan {
    const plan: ItemPlan = { ids: [], floats: [], vectors: [] };
    // Values per candidate, or per sequence entry: the input's last dimension.
    const input = (kind: string) => {
      const k = index(`${prefix}_${kind}`);
      return { input: k, stride: this.layout.inputs[k]!.rowShape.at(-1)! };
    };
    const add = (slot: CategoricalSlot | NumericSlot, kind: 'cat' | 'num', offset: number) => {
      const column = this.layout.itemSlotIndex(slot);
      const item = this.layout.itemSlots[column]!;
      const key = this.layout.isKeySlot(item) && kind === 'cat';
      const w: ItemWrite = {
        column,
        ...input(kind),
        offset,
        width: 1,
        float: kind === 'num',
        // An unknown item reads the attribute's declared default, as the trainer's pseudo row does
        // (a categorical one without a default encodes to 0).
        missing:
          kind === 'num'
            ? numericEncoder(slot as NumericSlot, attributeDefault(this.layout.repo, slot.source))(undefined)
            : categoricalEncoder(
                slot as CategoricalSlot,
                this.hasher,
              )(attributeDefault(this.layout.repo, slot.source)),
        ...(key ? { keyEncoder: categoricalEncoder(slot as CategoricalSlot, this.hasher) } : {}),
      };
      (kind === 'num' ? plan.floats : plan.ids).push(w);
    };
    group.categorical.forEach((s, i) => this.layout.readsItem(s) && add(s, 'cat', i));
    group.numeric.forEach((s, i) => this.layout.readsItem(s) && add(s, 'num', i));
    for (const s of group.multi_categorical) {
      if (!this.layout.readsItem(s)) continue;
      const column = this.layout.itemSlotIndex(s);
      plan.ids.push({
        column,
        ...input('multi'),
        offset: s.offset,
        width: s.max_length,
        float: false,
        missing: 0,
      });
    }
    for (const s of group.vector)
      if (this.layout.readsStoredVector(s))
        plan.vectors.push({ ...input('vec'), offset: s.offset, width: s.width });
    return plan;
  }

  private compileCandidateContext(group: InputGroup, index: (name: string) => number): void {
    const slots = [
      ...group.categorical.map((s, i) => ({ s, i, float: false })),
      ...group.numeric.map((s, i) => ({ s, i, float: true })),
    ].filter(({ s }) => splitSource(s.source)[0] === 'context');
    for (const { s, i, float } of slots) {
      const k = index(float ? 'cand_num' : 'cand_cat');
      const encode = float
        ? numericEncoder(s as NumericSlot, attributeDefault(this.layout.repo, s.source))
        : categoricalEncoder(s as CategoricalSlot, this.hasher);
      const clip = s.clip;
      this.candidateContext.push({
        input: k,
        stride: this.layout.inputs[k]!.rowSize,
        offset: i,
        float,
        attr: splitSource(s.source)[1],
        encode,
        ...(clip && Number.isInteger(clip[0]) && Number.isInteger(clip[1]) && clip[1] - clip[0] < TABLE_MAX
          ? {
              table: {
                lo: clip[0],
                hi: clip[1],
                ids: Float64Array.from({ length: clip[1] - clip[0] + 1 }, (_, p) => encode(clip[0] + p)),
              },
            }
          : {}),
      });
    }
  }
}

function writeAggregate(w: AggregateWrite, buf: InputBuffers, input: AssemblyInput, B: number): void {
  const values = input.aggregates?.[w.aggregate];
  const n = w.perCandidate ? B : 1;
  const { encode, stride, offset } = w;
  if (w.float) {
    const out = buf.values(w.input);
    for (let b = 0; b < n; b++) out[b * stride + offset] = encode(values?.[b] ?? 0);
  } else {
    const out = buf.ids(w.input);
    for (let b = 0; b < n; b++) out.set(b * stride + offset, encode(values?.[b] ?? 0));
  }
}

function writeCandidateContext(
  w: CandidateContextWrite,
  buf: InputBuffers,
  input: Pick<AssemblyInput, 'candidateContext'>,
  B: number,
): void {
  const values = input.candidateContext[w.attr];
  const t = w.table;
  for (let b = 0; b < B; b++) {
    const v = values?.[b];
    const id =
      t && typeof v === 'number' && Number.isInteger(v)
        ? t.ids[Math.min(Math.max(v, t.lo), t.hi) - t.lo]!
        : w.encode(v);
    const at = b * w.stride + w.offset;
    if (w.float) buf.values(w.input)[at] = id;
    else buf.ids(w.input).set(at, id);
  }
}

/**
 * The item-reading inputs of `total` rows (candidates, or a sequence's entries): the first n from the
 * cache rows (unknown ones: hashed key, missing values, zero vector), the rest zero. Returns the
 * unknown count.
 */
function writeItems(
  plan: ItemPlan,
  cache: ItemCache,
  buf: InputBuffers,
  rows: Int32Array,
  ids: readonly string[],
  n: number,
  total: number,
): number {
  const cols = cache.columns;
  for (const w of plan.ids)
    writeIdColumn(w, cols[w.column] as Int32Array, buf.ids(w.input), rows, ids, n, total);
  for (const w of plan.floats)
    writeFloatColumn(w, cols[w.column] as Float32Array, buf.values(w.input), rows, n, total);
  for (const w of plan.vectors) writeVectors(w, cache, buf.values(w.input), rows, n, total);
  let oov = 0;
  for (let r = 0; r < n; r++) if (rows[r]! < 0) oov++;
  return oov;
}

function writeIdColumn(
  w: ItemWrite,
  col: Int32Array,
  out: IdBuffer,
  rows: Int32Array,
  ids: readonly string[],
  n: number,
  total: number,
): void {
  const { stride, offset, width } = w;
  for (let r = 0; r < total; r++) {
    const at = r * stride + offset;
    const row = r < n ? rows[r]! : -1;
    if (row >= 0) {
      const src = row * width;
      for (let k = 0; k < width; k++) out.set(at + k, col[src + k]!);
    } else if (r < n && w.keyEncoder) out.set(at, w.keyEncoder(ids[r]));
    else out.fill(r < n ? w.missing : 0, at, at + width);
  }
}

function writeFloatColumn(
  w: ItemWrite,
  col: Float32Array,
  out: Float32Array,
  rows: Int32Array,
  n: number,
  total: number,
): void {
  for (let r = 0; r < total; r++) {
    const row = r < n ? rows[r]! : -1;
    out[r * w.stride + w.offset] = row >= 0 ? col[row]! : r < n ? w.missing : 0;
  }
}

/** Each row's cached vector: truncated or zero-padded to the slot's width; zeros when it has none. */
function writeVectors(
  w: VectorWrite,
  cache: ItemCache,
  out: Float32Array,
  rows: Int32Array,
  n: number,
  total: number,
): void {
  const dim = cache.dim;
  const data = cache.vectorData;
  const copied = Math.min(w.width, dim);
  for (let r = 0; r < total; r++) {
    const at = r * w.stride + w.offset;
    const row = r < n ? rows[r]! : -1;
    if (row >= 0 && cache.hasVectorAt(row)) {
      out.set(data.subarray(row * dim, row * dim + copied), at);
      out.fill(0, at + copied, at + w.width);
    } else out.fill(0, at, at + w.width);
  }
}
