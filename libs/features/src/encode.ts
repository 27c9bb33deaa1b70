// Raw values -> the model inputs of a repository's layout (libs/feature-repo modelLayout): one row of
// user_* and of each sequence's inputs per request, one cand_* row per candidate. Mirrors the trainer's
// encoders (mmctr_trainer); both are checked against golden/encode-vectors.json.
import { modelLayout, type FeatureRepo, type InputGroup, type ModelLayout } from '@mmctr/feature-repo';
import { Hasher } from './hash-cache';
import {
  attributeDefault,
  categoricalEncoder,
  clickAgeBucket,
  multiEncoder,
  numericEncoder,
  splitSource,
  writeVector,
  type RawValue,
} from './slots';

export type RawRecord = Readonly<Record<string, RawValue>>;

/** The raw values one side of a row reads. */
export interface RawSide {
  /** Entity rows by entity name (the side's own entity and those joined to it), key attribute included. */
  entities?: Readonly<Record<string, RawRecord | undefined>>;
  /** Embedding vectors by embedding name. */
  vectors?: Readonly<Record<string, ArrayLike<number> | null | undefined>>;
  /** Context attributes: the request's (scope request) or the candidate's (scope candidate). */
  context?: RawRecord;
}

export interface RawHistoryEntry extends RawSide {
  /** When the event happened (ms since epoch); absent = unknown, age bucket 0. */
  ts_ms?: number | null;
}

export interface RawRequest extends RawSide {
  /** Request time (ms since epoch, UTC): `context.ts_ms` and the sequences' ages. */
  ts_ms: number;
  /** Each sequence's entries by sequence name, newest first; only the first `length` are used. */
  sequences?: Readonly<Record<string, readonly RawHistoryEntry[] | undefined>>;
}

export type RawCandidate = RawSide;

/** Model inputs by name (layout.inputs): int64 ids or float32 values, row-major. */
export type EncodedInputs = Record<string, BigInt64Array | Float32Array>;

/** One row of a group's four inputs. */
interface GroupRow {
  cat: BigInt64Array;
  num: Float32Array;
  multi: BigInt64Array;
  vec: Float32Array;
}

/** Reads a slot's raw value from one side (the request's context also answers `ts_ms`). */
function reader(source: string): (side: RawSide) => RawValue {
  const [ns, attr] = splitSource(source);
  if (ns === 'context') return (side) => side.context?.[attr];
  return (side) => side.entities?.[ns]?.[attr];
}

/** Writes one row of an input group (user, a sequence entry or a candidate) from raw values. */
class GroupEncoder {
  readonly width: Record<keyof GroupRow, number>;
  private readonly writers: ((side: RawSide, row: GroupRow, r: number) => void)[] = [];

  constructor(group: InputGroup, repo: FeatureRepo, hasher: Hasher) {
    const nCat = group.categorical.length;
    const nNum = group.numeric.length;
    const wMulti = group.multi_categorical.reduce((n, s) => n + s.max_length, 0);
    const wVec = group.vector.reduce((n, s) => n + s.width, 0);
    this.width = { cat: nCat, num: nNum, multi: wMulti, vec: wVec };
    group.categorical.forEach((s, i) => {
      const read = reader(s.source);
      const enc = categoricalEncoder(s, hasher);
      this.writers.push((side, row, r) => (row.cat[r * nCat + i] = BigInt(enc(read(side)))));
    });
    group.numeric.forEach((s, i) => {
      const read = reader(s.source);
      const enc = numericEncoder(s, attributeDefault(repo, s.source));
      this.writers.push((side, row, r) => (row.num[r * nNum + i] = enc(read(side))));
    });
    for (const s of group.multi_categorical) {
      const read = reader(s.source);
      const enc = multiEncoder(s, hasher);
      this.writers.push((side, row, r) =>
        enc(read(side), { set: (i, id) => (row.multi[i] = BigInt(id)) }, r * wMulti + s.offset),
      );
    }
    for (const s of group.vector)
      this.writers.push((side, row, r) =>
        writeVector(side.vectors?.[s.embedding], row.vec, r * wVec + s.offset, s.width),
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

  write(side: RawSide, row: GroupRow, r: number): void {
    for (const w of this.writers) w(side, row, r);
  }

  /** The group's rows under its input names (only the inputs the layout has). */
  named(prefix: string, row: GroupRow, out: EncodedInputs): void {
    for (const k of ['cat', 'num', 'multi', 'vec'] as const) if (this.width[k] > 0) out[`${prefix}_${k}`] = row[k];
  }
}

/**
 * The encoders of one repository's layout. encodeRequest gives the per-request inputs (user_* and every
 * sequence's, batch 1), encodeCandidates the cand_* rows.
 */
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

  encodeRequest(req: RawRequest): EncodedInputs {
    const out: EncodedInputs = {};
    const user = this.user.alloc(1);
    this.user.write({ ...req, context: { ...req.context, ts_ms: req.ts_ms } }, user, 0);
    this.user.named('user', user, out);
    for (const s of this.sequences) {
      const rows = s.enc.alloc(s.length);
      const age = new BigInt64Array(s.length);
      const entries = (req.sequences?.[s.name] ?? []).slice(0, s.length);
      entries.forEach((e, i) => {
        s.enc.write(e, rows, i);
        if (s.age) age[i] = BigInt(clickAgeBucket(req.ts_ms, e.ts_ms, s.age));
      });
      s.enc.named(s.name, rows, out);
      if (s.age) out[`${s.name}_age`] = age;
    }
    return out;
  }

  encodeCandidates(candidates: readonly RawCandidate[]): EncodedInputs {
    const rows = this.candidate.alloc(candidates.length);
    candidates.forEach((c, b) => this.candidate.write(c, rows, b));
    const out: EncodedInputs = {};
    this.candidate.named('cand', rows, out);
    return out;
  }
}
