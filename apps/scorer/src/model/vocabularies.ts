// A model's fitted vocabularies (the artifact's vocabulary.json, written by mmctr_trainer/vocabulary.py):
// the graph takes each fitted feature's vocabulary row, the assembler writes the value's process-wide id
// (@mmctr/features valueIds, shared by every model and cache), and `rows` maps one to the other in place
// before inference. The id -> row table is filled once per distinct value and model.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bucket, valueIds, valueKey } from '@mmctr/features';
import type { CategoricalSlot } from '@mmctr/feature-repo';
import type { LayoutInput, ServingLayout } from '../layout/serving-layout';

export const VOCABULARY_FILE = 'vocabulary.json';
const FORMAT = 'mmctr-vocabulary-1';

interface VocabularyDocument {
  format: string;
  features: Record<string, { field: string; inputs: { input: string; column: number }[]; keys: string[] }>;
}

/** Where a fitted feature's ids sit: every `stride`-th id of an input from `column` on. */
interface Position {
  input: number;
  column: number;
  stride: number;
  candidate: boolean;
}

class FeatureRows {
  /** id -> row, -1 until the id is first seen. */
  private rows = new Int32Array(0);

  constructor(
    readonly feature: string,
    readonly positions: Position[],
    /** The graph's id of a value (its vocabulary row, or an older artifact's hash bucket). */
    private readonly resolve: (value: string) => number,
  ) {}

  row(id: number): number {
    if (id < this.rows.length) {
      const r = this.rows[id]!;
      if (r >= 0) return r;
    } else {
      const grown = new Int32Array(Math.max(id + 1, valueIds.count(this.feature), this.rows.length * 2));
      grown.fill(-1).set(this.rows);
      this.rows = grown;
    }
    const value = id === 0 ? undefined : valueIds.text(this.feature, id);
    const r = value === undefined ? 0 : this.resolve(value);
    this.rows[id] = r;
    return r;
  }
}

/** The fitted slots of the layout's user and candidate sides and sequences: (input name, column, slot). */
function fittedSlots(layout: ServingLayout): { input: string; column: number; slot: CategoricalSlot }[] {
  const l = layout.layout;
  const groups = [
    { prefix: 'user', g: l.user },
    { prefix: 'cand', g: l.candidate },
    ...l.sequences.map((s) => ({ prefix: s.name, g: s })),
  ];
  return groups.flatMap(({ prefix, g }) =>
    g.categorical.flatMap((slot, column) => (slot.fit ? [{ input: `${prefix}_cat`, column, slot }] : [])),
  );
}

export class ModelVocabularies {
  private constructor(private readonly features: FeatureRows[]) {}

  get size(): number {
    return this.features.length;
  }

  /**
   * The vocabularies of the artifact in `dir` for the running layout; undefined when the layout fits none.
   * An artifact without vocabulary.json predates exact vocabularies: its graph maps hash buckets itself, so
   * its ids are the buckets.
   */
  static async load(dir: string, layout: ServingLayout): Promise<ModelVocabularies | undefined> {
    const fitted = fittedSlots(layout);
    if (!fitted.length) return undefined;
    const at = (name: string, column: number): Position => {
      const input = layout.inputs.findIndex((i) => i.name === name);
      const info: LayoutInput | undefined = layout.inputs[input];
      const stride = info?.rowShape.at(-1) ?? 0;
      if (!info || column < 0 || column >= stride)
        throw new Error(`${VOCABULARY_FILE}: no column ${column} of input ${name} in the layout`);
      return { input, column, stride, candidate: info.side === 'candidate' };
    };
    const file = join(dir, VOCABULARY_FILE);
    if (!existsSync(file)) {
      const bySlot = new Map<string, FeatureRows>();
      for (const { input, column, slot } of fitted) {
        const field = slot.field ?? slot.feature;
        const rows =
          bySlot.get(slot.feature) ?? new FeatureRows(slot.feature, [], (v) => bucket(field, v, slot.size));
        rows.positions.push(at(input, column));
        bySlot.set(slot.feature, rows);
      }
      return new ModelVocabularies([...bySlot.values()]);
    }
    const doc = JSON.parse(await readFile(file, 'utf8')) as VocabularyDocument;
    if (doc.format !== FORMAT)
      throw new Error(`${VOCABULARY_FILE}: format ${doc.format}, expected ${FORMAT}`);
    const want = new Set(fitted.map((f) => f.slot.feature));
    const have = Object.keys(doc.features);
    if (have.length !== want.size || have.some((f) => !want.has(f)))
      throw new Error(
        `${VOCABULARY_FILE} fits ${have.sort().join(', ') || 'nothing'}; the layout fits ${[...want].sort().join(', ')}`,
      );
    return new ModelVocabularies(
      have.map((feature) => {
        const { field, inputs, keys } = doc.features[feature]!;
        const rowOf = new Map<bigint, number>();
        keys.forEach((k, i) => rowOf.set(BigInt(k), i + 1));
        return new FeatureRows(
          feature,
          inputs.map((i) => at(i.input, i.column)),
          (v) => rowOf.get(valueKey(field, v)) ?? 0,
        );
      }),
    );
  }

  /** Replaces the fitted features' value ids in the first `batch` candidate rows of `buffers` by rows. */
  rows(buffers: IdSource, batch: number): void {
    for (const f of this.features) {
      for (const p of f.positions) {
        const ids = buffers.ids(p.input);
        const end = (p.candidate ? batch : 1) * buffers.inputs[p.input]!.rowSize;
        for (let i = p.column; i < end; i += p.stride) ids.set(i, f.row(ids.get(i)));
      }
    }
  }
}

/** The part of InputBuffers `rows` uses. */
export interface IdSource {
  readonly inputs: readonly LayoutInput[];
  ids(index: number): { get(i: number): number; set(i: number, id: number): void };
}
