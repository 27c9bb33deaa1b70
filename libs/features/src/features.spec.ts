import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bucket, fnv1a64, fnv1a64Reference } from './hash';
import { loadFeatureSpec, parseFeatureSpec } from './spec';
import { encodeCandidate, encodeCandidates, encodeUser, RawCandidate, RawUser } from './encode';

const golden = (name: string): unknown =>
  JSON.parse(readFileSync(join(__dirname, '..', 'golden', name), 'utf8'));

interface HashCase {
  field: string;
  value: string;
  buckets: number;
  fnv1a64: string;
  bucket: number;
}

describe('feature hashing (golden vectors shared with the Python trainer)', () => {
  const { cases } = golden('hash-vectors.json') as { cases: HashCase[] };

  it('has cases for ASCII, unicode, emoji, empty, long values and large bucket counts', () => {
    expect(cases.length).toBeGreaterThan(50);
    expect(cases.some((c) => c.value === '')).toBe(true);
    expect(cases.some((c) => c.value.length >= 1000)).toBe(true);
    expect(cases.some((c) => /\p{Extended_Pictographic}/u.test(c.value))).toBe(true);
    expect(cases.some((c) => c.buckets === 2 ** 20)).toBe(true);
    expect(cases.some((c) => c.buckets === 2 ** 31)).toBe(true);
  });

  it('matches every golden case', () => {
    const enc = new TextEncoder();
    for (const c of cases) {
      if (c.value !== '') {
        const bytes = enc.encode(c.field + '\x1f' + c.value);
        expect(fnv1a64(bytes).toString(16).padStart(16, '0')).toBe(c.fnv1a64);
      }
      expect({ ...c, got: bucket(c.field, c.value, c.buckets) }).toEqual({ ...c, got: c.bucket });
    }
  });

  it('agrees with the BigInt reference and the published FNV-1a test vectors', () => {
    const enc = new TextEncoder();
    expect(fnv1a64(enc.encode(''))).toBe(0xcbf29ce484222325n);
    expect(fnv1a64(enc.encode('a'))).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64(enc.encode('foobar'))).toBe(0x85944171f73967e8n);
    for (let i = 0; i < 200; i++) {
      const s = `v${i}-${'🚀'.repeat(i % 7)}-${String.fromCharCode(32 + (i % 90))}`;
      expect(fnv1a64(enc.encode(s))).toBe(fnv1a64Reference(enc.encode(s)));
    }
  });

  it('keeps buckets in range and rejects bad bucket counts', () => {
    for (let i = 0; i < 500; i++) {
      const b = bucket('f', `x${i}`, 7);
      expect(b).toBeGreaterThanOrEqual(1);
      expect(b).toBeLessThanOrEqual(6);
    }
    expect(bucket('f', '', 7)).toBe(0);
    expect(() => bucket('f', 'x', 1)).toThrow(RangeError);
  });
});

interface EncodeGolden {
  feature_spec_version: string;
  users: { input: RawUser; expected: Record<string, unknown> }[];
  candidates: { input: RawCandidate[]; expected: Record<string, unknown> };
}

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);
const ints = (a: BigInt64Array): number[] => Array.from(a, Number);

describe('encodeUser / encodeCandidates (expectations produced by Python)', () => {
  const spec = loadFeatureSpec();
  const g = golden('encode-vectors.json') as EncodeGolden;

  it('uses the same feature spec version', () => {
    expect(spec.version).toBe(g.feature_spec_version);
  });

  it('encodes users exactly like the trainer', () => {
    for (const u of g.users) {
      const e = encodeUser(spec, u.input);
      expect(ints(e.userFields)).toEqual(flat(u.expected.user_fields));
      expect(ints(e.histIds)).toEqual(flat(u.expected.hist_ids));
      expect(ints(e.histTags)).toEqual(flat(u.expected.hist_tags));
      expect(ints(e.histCat)).toEqual(flat(u.expected.hist_cat));
      expect(Array.from(e.histMm)).toEqual(flat(u.expected.hist_mm));
      expect(e.histIds.length).toBe(spec.history.length);
      expect(e.histMm.length).toBe(spec.history.length * spec.multimodal.dim);
    }
  });

  it('encodes candidates exactly like the trainer', () => {
    const e = encodeCandidates(spec, g.candidates.input);
    expect(e.batch).toBe(g.candidates.input.length);
    expect(ints(e.candFields)).toEqual(flat(g.candidates.expected.cand_fields));
    expect(ints(e.candTags)).toEqual(flat(g.candidates.expected.cand_tags));
    expect(Array.from(e.candMm)).toEqual(flat(g.candidates.expected.cand_mm));
    const one = encodeCandidate(spec, g.candidates.input[2]!);
    expect(one.batch).toBe(1);
    expect(ints(one.candFields)).toEqual(flat(g.candidates.expected.cand_fields).slice(6, 9));
  });

  it('rejects a spec whose fields differ from the serving signature', () => {
    const raw = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
    raw.user_fields = [{ name: 'user_id', buckets: 10 }];
    expect(() => parseFeatureSpec(raw)).toThrow(/user_fields/);
  });
});
