import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bucket, fnv1a64, fnv1a64Reference } from './hash';
import { historyAgeBuckets, loadFeatureSpec, parseFeatureSpec, type FeatureSpec } from './spec';
import {
  ageBucket,
  clickAgeBucket,
  encodeCandidate,
  encodeCandidates,
  encodeUser,
  RawCandidate,
  RawUser,
} from './encode';

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
      expect(ints(e.histAge)).toEqual(flat(u.expected.hist_age));
      expect(e.histIds.length).toBe(spec.history.length);
      expect(e.histAge.length).toBe(spec.history.length);
      expect(e.histMm.length).toBe(spec.history.length * spec.multimodal.dim);
    }
  });

  it('has golden ages for known, unknown and future click times', () => {
    const ages = g.users.flatMap((u) => flat(u.expected.hist_age));
    expect(ages).toContain(0);
    expect(ages).toContain(1);
    expect(ages.some((a) => a > 2)).toBe(true);
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

describe('history age buckets', () => {
  const spec = loadFeatureSpec();
  const b = [10, 20, 40];

  it('counts the boundaries <= age, plus one', () => {
    expect(ageBucket(0, b)).toBe(1);
    expect(ageBucket(9, b)).toBe(1);
    expect(ageBucket(10, b)).toBe(2); // equal to a boundary: the bucket above
    expect(ageBucket(19, b)).toBe(2);
    expect(ageBucket(20, b)).toBe(3);
    expect(ageBucket(39, b)).toBe(3);
    expect(ageBucket(40, b)).toBe(4);
    expect(ageBucket(1e15, b)).toBe(4); // beyond the last boundary
    expect(ageBucket(-5, b)).toBe(1); // a click after the request time
    expect(ageBucket(Number.NaN, b)).toBe(0);
    expect(ageBucket(5, [])).toBe(1);
  });

  it('agrees with a linear count on the spec boundaries', () => {
    const sb = spec.history.age!.boundaries_ms;
    const probes = [-1, 0, 1, ...sb.flatMap((x) => [x - 1, x, x + 1]), sb[sb.length - 1]! * 10];
    for (const age of probes) {
      expect(ageBucket(age, sb)).toBe(1 + sb.filter((x) => x <= Math.max(0, age)).length);
    }
    expect(historyAgeBuckets(spec)).toBe(sb.length + 2);
    expect(Math.max(...probes.map((a) => ageBucket(a, sb)))).toBe(historyAgeBuckets(spec) - 1);
  });

  it('gives 0 to unknown click times', () => {
    expect(clickAgeBucket(100, undefined, b)).toBe(0);
    expect(clickAgeBucket(100, null, b)).toBe(0);
    expect(clickAgeBucket(100, Number.NaN, b)).toBe(0);
    expect(clickAgeBucket(100, 80, b)).toBe(3);
    expect(clickAgeBucket(100, 200, b)).toBe(1);
  });

  it('encodes all-zero ages for a spec without history.age (fs-1), and for padding', () => {
    const raw = JSON.parse(JSON.stringify(spec)) as FeatureSpec;
    delete raw.history.age;
    const fs1 = parseFeatureSpec(raw);
    expect(historyAgeBuckets(fs1)).toBe(0);
    const user: RawUser = {
      user_id: 'u',
      ts_ms: 1_000_000,
      history: [
        { item_id: 'a', ts_ms: 999_000 },
        { item_id: 'b', ts_ms: 1 },
      ],
    };
    expect(ints(encodeUser(fs1, user).histAge)).toEqual(Array(spec.history.length).fill(0));
    const withAge = ints(encodeUser(spec, user).histAge);
    expect(withAge.slice(0, 2)).toEqual([1, 2]); // 1 s (< 10 min); ~16.7 min (>= 10 min, < 30 min)
    expect(withAge.slice(2).every((a) => a === 0)).toBe(true);
  });

  it('rejects bad boundaries with a message naming the field', () => {
    const bad = (boundaries_ms: unknown, field: unknown = 'history_age') => {
      const raw = JSON.parse(JSON.stringify(spec)) as Record<string, Record<string, unknown>>;
      raw.history!.age = { field, boundaries_ms };
      return () => parseFeatureSpec(raw);
    };
    expect(bad([10, 10])).toThrow(/history\.age\.boundaries_ms must be strictly increasing/);
    expect(bad([20, 10])).toThrow(/strictly increasing/);
    expect(bad([0, 10])).toThrow(/history\.age\.boundaries_ms\[0\] must be a positive integer/);
    expect(bad([10, 1.5])).toThrow(/boundaries_ms\[1\] must be a positive integer/);
    expect(bad([10, '20'])).toThrow(/boundaries_ms\[1\]/);
    expect(bad([])).toThrow(/history\.age\.boundaries_ms must be a non-empty array/);
    expect(bad(undefined)).toThrow(/history\.age\.boundaries_ms/);
    expect(bad([10], '')).toThrow(/history\.age\.field/);
    expect(bad([10, 20, 40])).not.toThrow();
  });
});
