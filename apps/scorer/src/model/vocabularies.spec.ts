import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bucket, categoricalEncoder, Hasher, valueKey } from '@mmctr/features';
import type { CategoricalSlot } from '@mmctr/feature-repo';
import { adPlatform, type RepoDoc } from '../../../../test/support/feature-repo/ad-platform';
import { ServingLayout } from '../layout/serving-layout';
import { InputBuffers } from './onnx-model';
import { ModelVocabularies, VOCABULARY_FILE } from './vocabularies';
import { tempDir, tempSubdir } from '../../../../test/support/temp-dir';

// ad-platform with user_id (user side) and ad_id (candidate side and click_history's entries) fitted.
const fit = (doc: RepoDoc): void => {
  for (const f of doc.features as (RepoDoc['features'][number] & { fit?: unknown })[])
    if (f.name === 'user_id' || f.name === 'ad_id') f.fit = { min_count: 1 };
};
const layout = new ServingLayout(adPlatform('fit-1', fit));
const artifacts = tempDir('vocab');
const groups = [
  { prefix: 'user', g: layout.layout.user },
  { prefix: 'cand', g: layout.layout.candidate },
  ...layout.layout.sequences.map((s) => ({ prefix: s.name, g: s })),
];
const input = (name: string): number => layout.inputs.findIndex((i) => i.name === name);
const stride = (name: string): number => layout.inputs[input(name)]!.rowShape.at(-1)!;

/** The (input, column) pairs of a feature's categorical slots, as the trainer lists them. */
function slotsOf(feature: string): { input: string; column: number; slot: CategoricalSlot }[] {
  return groups.flatMap(({ prefix, g }) =>
    g.categorical.flatMap((slot, column) =>
      slot.feature === feature ? [{ input: `${prefix}_cat`, column, slot }] : [],
    ),
  );
}

/** Two values whose hash buckets collide in the slot's table (a vocabulary of buckets gave them one row). */
function colliding(slot: CategoricalSlot): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const v = `v${i}`;
    const b = bucket(slot.field ?? slot.feature, v, slot.size);
    const other = seen.get(b);
    if (other !== undefined) return [other, v];
    seen.set(b, v);
  }
}

/** An artifact folder whose vocabulary.json holds `values` per feature (rows in signed key order). */
function artifact(values: Record<string, string[]>): string {
  const dir = tempSubdir(artifacts, 'artifact');
  const features = Object.fromEntries(
    Object.entries(values).map(([feature, vs]) => {
      const slots = slotsOf(feature);
      const field = slots[0]!.slot.field ?? feature;
      const keys = vs.map((v) => valueKey(field, v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return [
        feature,
        { field, inputs: slots.map(({ input, column }) => ({ input, column })), keys: keys.map(String) },
      ];
    }),
  );
  writeFileSync(join(dir, VOCABULARY_FILE), JSON.stringify({ format: 'mmctr-vocabulary-1', features }));
  return dir;
}

/** The row a value has in a vocabulary written by `artifact`. */
function rowIn(values: string[], field: string, v: string): number {
  const keys = values.map((x) => valueKey(field, x)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys.indexOf(valueKey(field, v)) + 1;
}

const user = slotsOf('user_id')[0]!;
const ad = slotsOf('ad_id');
const hasher = new Hasher();
const userIds = categoricalEncoder(user.slot, hasher);
const adIds = categoricalEncoder(ad[0]!.slot, hasher);

function userBuffers(values: string[]): InputBuffers[] {
  return values.map((v) => {
    const b = new InputBuffers(layout.inputs, 4);
    b.ids(input(user.input)).set(user.column, userIds(v));
    return b;
  });
}

describe("a model's fitted vocabularies (value id -> row, outside the graph)", () => {
  it('fitted slots encode to value ids shared by every cache, not hash buckets', () => {
    const [a, b] = colliding(user.slot);
    expect(userIds(a)).not.toBe(userIds(b));
    expect(userIds(a)).toBe(categoricalEncoder(user.slot, new Hasher())(a)); // one id per value in the process
    expect(userIds('')).toBe(0);
    expect(userIds(null)).toBe(0);
  });

  it('gives two values whose buckets collide their own rows; unseen and missing values row 0', async () => {
    const [a, b] = colliding(user.slot);
    const values = [a, b, 'u-3'];
    const v = (await ModelVocabularies.load(artifact({ user_id: values, ad_id: ['ad-1'] }), layout))!;
    const field = user.slot.field ?? 'user_id';
    const bufs = userBuffers([a, b, 'u-3', 'never-seen', '']);
    bufs.forEach((buf) => v.rows(buf, 1));
    const rows = bufs.map((buf) => buf.ids(input(user.input)).get(user.column));
    expect(rows).toEqual([
      rowIn(values, field, a),
      rowIn(values, field, b),
      rowIn(values, field, 'u-3'),
      0,
      0,
    ]);
    expect(new Set(rows.slice(0, 3))).toEqual(new Set([1, 2, 3]));
  });

  it("maps the same value ids to each model's own rows", async () => {
    const dirA = artifact({ user_id: ['x', 'y'], ad_id: ['ad-1'] });
    const dirB = artifact({ user_id: ['y'], ad_id: ['ad-1'] });
    const [va, vb] = await Promise.all([
      ModelVocabularies.load(dirA, layout),
      ModelVocabularies.load(dirB, layout),
    ]);
    const [forA, forB] = [userBuffers(['y'])[0]!, userBuffers(['y'])[0]!];
    va!.rows(forA, 1);
    vb!.rows(forB, 1);
    expect(forA.ids(input(user.input)).get(user.column)).toBe(rowIn(['x', 'y'], 'user_id', 'y'));
    expect(forB.ids(input(user.input)).get(user.column)).toBe(1);
  });

  it('maps every candidate row and sequence entry of a fitted feature, and only the first `batch` candidates', async () => {
    const values = ['ad-1', 'ad-2'];
    const v = (await ModelVocabularies.load(artifact({ user_id: ['x'], ad_id: values }), layout))!;
    const buf = new InputBuffers(layout.inputs, 4);
    const [cand, ...seqs] = ad;
    const c = buf.ids(input(cand!.input));
    ['ad-2', 'ad-9', 'ad-1', 'ad-1'].forEach((x, r) =>
      c.set(r * stride(cand!.input) + cand!.column, adIds(x)),
    );
    for (const s of seqs)
      ['ad-1', 'ad-2'].forEach((x, k) =>
        buf.ids(input(s.input)).set(k * stride(s.input) + s.column, adIds(x)),
      );
    v.rows(buf, 3);
    const at = (r: number) => c.get(r * stride(cand!.input) + cand!.column);
    expect([at(0), at(1), at(2)]).toEqual([
      rowIn(values, 'ad_id', 'ad-2'),
      0,
      rowIn(values, 'ad_id', 'ad-1'),
    ]);
    expect(at(3)).toBe(adIds('ad-1')); // past the batch: left alone
    expect(seqs.length).toBeGreaterThan(0);
    for (const s of seqs)
      expect([0, 1].map((k) => buf.ids(input(s.input)).get(k * stride(s.input) + s.column))).toEqual([
        rowIn(values, 'ad_id', 'ad-1'),
        rowIn(values, 'ad_id', 'ad-2'),
      ]);
  });

  it('feeds an older artifact (no vocabulary.json: its graph maps buckets) the hash buckets', async () => {
    const v = (await ModelVocabularies.load(tempSubdir(artifacts, 'empty'), layout))!;
    const [a, b] = colliding(user.slot);
    const bufs = userBuffers([a, b]);
    bufs.forEach((buf) => v.rows(buf, 1));
    const want = bucket(user.slot.field ?? 'user_id', a, user.slot.size);
    expect(bufs.map((buf) => buf.ids(input(user.input)).get(user.column))).toEqual([want, want]);
  });

  it('refuses a vocabulary.json that fits other features than the layout', async () => {
    await expect(ModelVocabularies.load(artifact({ user_id: ['x'] }), layout)).rejects.toThrow(
      /fits user_id; the layout fits ad_id, user_id/,
    );
  });
});
