// Raw values -> the model inputs of a repository's layout (libs/feature-repo modelLayout): one row of
// user_* and of each sequence's inputs per request, one cand_* row per candidate. Mirrors the trainer's
// encoders (mmctr_trainer); both are checked against golden/encode-vectors.json.
import { modelLayout, type FeatureRepo, type InputGroup, type ModelLayout } from '@mmctr/feature-repo';
import { Hasher } from './hash-cache';
import {
  attributeDefault,
  categoricalEncoder,
  categoricalString,
  clickAgeBucket,
  multiEncoder,
  numericEncoder,
  splitSource,
  writeVector,
  type RawValue,
} from './slots';

/** One entity row as the encoders read it: its attributes (key included) and its embeddings by name. */
export interface RawRecord {
  row?: Readonly<Record<string, RawValue>>;
  vectors?: Readonly<Record<string, ArrayLike<number> | null | undefined>>;
}

export interface RawHistoryEntry extends RawRecord {
  /** When the event happened (ms since epoch); absent = unknown, age bucket 0. */
  ts_ms?: number | null;
}

export interface RawCandidate extends RawRecord {
  /** The candidate's context attributes (scope candidate). */
  context?: Readonly<Record<string, RawValue>>;
}

/**
 * One request's raw values (the golden vectors' input, shared with mmctr_trainer/slots.py): the
 * requester's record, the request context, records joined by key (`ad.advertiser_id` -> advertiser
 * rows), each sequence's entries newest first and the candidates.
 */
export interface RawRequest {
  /** Request time (ms since epoch, UTC): `context.ts_ms` and the sequences' ages. */
  ts_ms: number;
  user?: RawRecord;
  context?: Readonly<Record<string, RawValue>>;
  joined?: Readonly<Record<string, Readonly<Record<string, RawRecord>>>>;
  sequences?: Readonly<Record<string, readonly RawHistoryEntry[] | undefined>>;
  candidates?: readonly RawCandidate[];
  /**
   * The raw aggregate window values by `<aggregation>@<window>` (the score log's `aggregates`): one per
   * user-side window, one per candidate per candidate-side window; a missing value reads 0.
   */
  aggregates?: {
    user?: Readonly<Record<string, number>>;
    candidates?: Readonly<Record<string, readonly number[]>>;
  };
}

/** Model inputs by name (layout.inputs order): int64 ids or float32 values, row-major. */
export type EncodedInputs = Record<string, BigInt64Array | Float32Array>;

/** Where one record's slots read: the record itself, a context, the request time and the joined records. */
interface Scope {
  own: RawRecord;
  context: Readonly<Record<string, RawValue>> | undefined;
  tsMs: number;
  joined: RawRequest['joined'];
  /** The raw value of an aggregate window (`<aggregation>@<window>`) for this record. */
  aggregate: (key: string) => number | undefined;
}

/** The record a slot reads: the scope's own, or the one its `via` attribute joins to. */
function recordOf(scope: Scope, entity: string, via: string | undefined): RawRecord | undefined {
  if (!via) return scope.own;
  const key = categoricalString(scope.own.row?.[splitSource(via)[1]]);
  return scope.joined?.[entity]?.[key];
}

/** Reads a slot's raw value from a scope. */
function reader(slot: { source: string; via?: string; window?: string }): (scope: Scope) => RawValue {
  const [ns, attr] = splitSource(slot.source);
  if (slot.window !== undefined) {
    const key = `${attr}@${slot.window}`;
    return (scope) => scope.aggregate(key);
  }
  if (ns === 'context') return (scope) => (attr === 'ts_ms' ? scope.tsMs : scope.context?.[attr]);
  return (scope) => recordOf(scope, ns, slot.via)?.row?.[attr];
}

/** One row of a group's four inputs. */
interface GroupRow {
  cat: BigInt64Array;
  num: Float32Array;
  multi: BigInt64Array;
  vec: Float32Array;
}

/** Writes one row of an input group (user, a sequence entry or a candidate) from raw values. */
class GroupEncoder {
  readonly width: Record<keyof GroupRow, number>;
  private readonly writers: ((scope: Scope, row: GroupRow, r: number) => void)[] = [];

  constructor(group: InputGroup, repo: FeatureRepo, hasher: Hasher) {
    const nCat = group.categorical.length;
    const nNum = group.numeric.length;
    const wMulti = group.multi_categorical.reduce((n, s) => n + s.max_length, 0);
    const wVec = group.vector.reduce((n, s) => n + s.width, 0);
    this.width = { cat: nCat, num: nNum, multi: wMulti, vec: wVec };
    group.categorical.forEach((s, i) => {
      const read = reader(s);
      const enc = categoricalEncoder(s, hasher);
      this.writers.push((scope, row, r) => (row.cat[r * nCat + i] = BigInt(enc(read(scope)))));
    });
    group.numeric.forEach((s, i) => {
      const read = reader(s);
      // an aggregate window nobody logged reads 0, as the scorer's assembler writes it
      const enc = numericEncoder(s, s.window !== undefined ? 0 : attributeDefault(repo, s.source));
      this.writers.push((scope, row, r) => (row.num[r * nNum + i] = enc(read(scope))));
    });
    for (const s of group.multi_categorical) {
      const read = reader(s);
      const enc = multiEncoder(s, hasher);
      this.writers.push((scope, row, r) =>
        enc(read(scope), { set: (i, id) => (row.multi[i] = BigInt(id)) }, r * wMulti + s.offset),
      );
    }
    for (const s of group.vector)
      this.writers.push((scope, row, r) =>
        writeVector(
          recordOf(scope, s.entity, s.via)?.vectors?.[s.embedding],
          row.vec,
          r * wVec + s.offset,
          s.width,
        ),
      );
  }

  alloc(rows: number): GroupRow {
    const w = this.width;
    return {
      cat: new BigInt64Array(rows * w.cat),
      num: new Float32Array(rows * w.num),
      multi: new BigInt64Array(rows * w.multi),
      vec: new Float32Array(rows * w.vec),
    };
  }

  write(scope: Scope, row: GroupRow, r: number): void {
    for (const w of this.writers) w(scope, row, r);
  }

  /** The group's rows under its input names (only the inputs the layout has). */
  named(prefix: string, row: GroupRow, out: EncodedInputs): void {
    for (const k of ['cat', 'num', 'multi', 'vec'] as const)
      if (this.width[k] > 0) out[`${prefix}_${k}`] = row[k];
  }
}

/** The encoders of one repository's layout. */
export class LayoutEncoder {
  readonly layout: ModelLayout;
  private readonly user: GroupEncoder;
  private readonly candidate: GroupEncoder;
  private readonly sequences: { name: string; length: number; age?: number[]; enc: GroupEncoder }[];

  constructor(repo: FeatureRepo, hasher = new Hasher()) {
    this.layout = modelLayout(repo);
    this.user = new GroupEncoder(this.layout.user, repo, hasher);
    this.candidate = new GroupEncoder(this.layout.candidate, repo, hasher);
    this.sequences = this.layout.sequences.map((s) => ({
      name: s.name,
      length: s.length,
      ...(s.age ? { age: s.age.boundaries_ms } : {}),
      enc: new GroupEncoder(s, repo, hasher),
    }));
  }

  /** Every input of the layout for one request (user and sequence inputs batch 1, candidates batch B). */
  encodeRequest(req: RawRequest): EncodedInputs {
    const out: EncodedInputs = {};
    const none = (): undefined => undefined;
    const scope = (own: RawRecord, context = req.context, aggregate: Scope['aggregate'] = none): Scope => ({
      own,
      context,
      tsMs: req.ts_ms,
      joined: req.joined,
      aggregate,
    });
    const { user: userAggregates, candidates: candidateAggregates } = req.aggregates ?? {};
    const user = this.user.alloc(1);
    this.user.write(
      scope(req.user ?? {}, req.context, (k) => userAggregates?.[k]),
      user,
      0,
    );
    this.user.named('user', user, out);
    for (const s of this.sequences) {
      const rows = s.enc.alloc(s.length);
      const age = new BigInt64Array(s.length);
      const entries = (req.sequences?.[s.name] ?? []).slice(0, s.length);
      entries.forEach((e, i) => {
        s.enc.write(scope(e), rows, i);
        if (s.age) age[i] = BigInt(clickAgeBucket(req.ts_ms, e.ts_ms, s.age));
      });
      s.enc.named(s.name, rows, out);
      if (s.age) out[`${s.name}_age`] = age;
    }
    const candidates = req.candidates ?? [];
    const cand = this.candidate.alloc(candidates.length);
    candidates.forEach((c, b) =>
      this.candidate.write(
        scope(c, c.context, (k) => candidateAggregates?.[k]?.[b]),
        cand,
        b,
      ),
    );
    this.candidate.named('cand', cand, out);
    return out;
  }
}
