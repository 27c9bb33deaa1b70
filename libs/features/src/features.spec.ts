import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bucket, fnv1a64, fnv1a64Reference } from './hash';
import { valueKey } from './value-ids';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo, type FeatureRepo } from '@mmctr/feature-repo';
import { historyAgeBuckets, loadFeatureSpec, parseFeatureSpec } from './spec';
import { LayoutEncoder, type RawRequest } from './encode';
import { ageBucket, clickAgeBucket } from './slots';

const golden = (name: string): unknown =>
  JSON.parse(readFileSync(join(__dirname, '..', 'golden', name), 'utf8'));

interface HashCase {
  field: string;
  value: string;
  buckets: number;
  fnv1a64: string;
  bucket: number;
  key: string;
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

  it('gives every golden case the key a fitted (exact) vocabulary stores it under, signed like int64', () => {
    for (const c of cases)
      expect({ ...c, got: String(valueKey(c.field, c.value)) }).toEqual({ ...c, got: c.key });
    expect(cases.some((c) => c.key.startsWith('-'))).toBe(true);
    expect(cases.some((c) => c.key !== '0' && !c.key.startsWith('-'))).toBe(true);
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

interface EncodeCase {
  repository: string;
  version: string;
  input: RawRequest;
  expected: Record<string, unknown>;
}

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);
const values = (a: BigInt64Array | Float32Array | undefined): number[] => Array.from(a ?? [], Number);

describe('LayoutEncoder (expectations produced by Python, for every repository in the golden file)', () => {
  const { cases } = golden('encode-vectors.json') as { cases: EncodeCase[] };
  const root = join(__dirname, '..', '..', '..');

  it('has cases for the demo, the ad platform and aggregate windows, joins and empty requests included', () => {
    expect(new Set(cases.map((c) => c.repository))).toEqual(
      new Set(['feature-repos/demo', 'feature-repos/ad-platform', 'feature-repos/demo-aggregates']),
    );
    expect(cases.some((c) => c.input.joined !== undefined)).toBe(true);
    expect(cases.some((c) => c.input.sequences === undefined)).toBe(true);
    expect(cases.some((c) => Object.keys(c.input.aggregates?.candidates ?? {}).length > 0)).toBe(true);
  });

  it('encodes every case exactly like the trainer, inputs in layout order', () => {
    for (const c of cases) {
      const repo = loadFeatureRepo(join(root, c.repository));
      expect(repo.version).toBe(c.version);
      const encoder = new LayoutEncoder(repo);
      const got = encoder.encodeRequest(c.input);
      expect(Object.keys(got)).toEqual(encoder.layout.inputs.map((i) => i.name));
      expect(Object.keys(got)).toEqual(Object.keys(c.expected));
      for (const input of encoder.layout.inputs) {
        const e = got[input.name];
        expect(e instanceof (input.dtype === 'int64' ? BigInt64Array : Float32Array)).toBe(true);
        expect({ case: c.repository, input: input.name, values: values(e) }).toEqual({
          case: c.repository,
          input: input.name,
          values: flat(c.expected[input.name]),
        });
      }
    }
  });

  it('has golden ages for known, unknown and future event times', () => {
    const ages = cases.flatMap((c) =>
      Object.entries(c.expected)
        .filter(([k]) => k.endsWith('_age'))
        .flatMap(([, v]) => flat(v)),
    );
    expect(ages).toContain(0);
    expect(ages).toContain(1);
    expect(ages.some((a) => a > 2)).toBe(true);
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

  it('feeds no age input for a sequence without age, and zero ages for padding', () => {
    const repo = JSON.parse(JSON.stringify(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH))) as {
      features: { kind: string; age?: unknown }[];
    };
    const seq = repo.features.find((f) => f.kind === 'sequence')!;
    const withAge = new LayoutEncoder(repo as unknown as FeatureRepo);
    delete seq.age;
    const noAge = new LayoutEncoder(repo as unknown as FeatureRepo);
    const req: RawRequest = {
      ts_ms: 1_000_000,
      user: { row: { user_id: 'u' } },
      sequences: {
        hist: [
          { row: { item_id: 'a' }, ts_ms: 999_000 },
          { row: { item_id: 'b' }, ts_ms: 1 },
        ],
      },
    };
    expect(noAge.encodeRequest(req).hist_age).toBeUndefined();
    expect(noAge.layout.inputs.map((i) => i.name)).not.toContain('hist_age');
    const ages = values(withAge.encodeRequest(req).hist_age);
    expect(ages.slice(0, 2)).toEqual([1, 2]); // 1 s (< 10 min); ~16.7 min (>= 10 min, < 30 min)
    expect(ages.slice(2).every((a) => a === 0)).toBe(true);
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
