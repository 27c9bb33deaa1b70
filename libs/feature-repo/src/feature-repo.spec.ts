import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFeatureSpec } from '@mmctr/features';
import {
  checkFeatureRepo,
  FeatureRepoError,
  legacySpecView,
  loadFeatureRepo,
  parseFeatureRepo,
} from './index';

const VECTORS = join(__dirname, '..', 'test-vectors');
const ROOT = join(__dirname, '..', '..', '..');
const expected = (
  JSON.parse(readFileSync(join(VECTORS, 'expected.json'), 'utf8')) as { vectors: Record<string, string[]> }
).vectors;
const read = (rel: string): unknown => JSON.parse(readFileSync(join(VECTORS, rel), 'utf8'));

describe('feature repository loader: shared test vectors (the Python loader runs the same ones)', () => {
  it.each(Object.entries(expected))('%s', (rel, errors) => {
    expect(checkFeatureRepo(read(rel))).toEqual(errors);
  });

  it('covers the required failure cases', () => {
    const all = Object.values(expected).flat().join('\n');
    expect(all).toMatch(/unknown transform 'log2'/);
    expect(all).toMatch(/unknown kind /);
    expect(all).toMatch(/duplicate name /);
    expect(all).toMatch(/buckets: must be >= 2/);
    expect(all).toMatch(/event_types\[1\]: unknown event type 'purchase'/);
    expect(all).toMatch(/width 48 does not match embedding/);
    expect(all).toMatch(/source: unknown attribute 'item.maker'/);
  });
});

describe('parseFeatureRepo', () => {
  it('returns a deeply frozen copy', () => {
    const doc = read('good/minimal-shop.json');
    const repo = parseFeatureRepo(doc);
    expect(Object.isFrozen(repo)).toBe(true);
    expect(Object.isFrozen(repo.features[0])).toBe(true);
    expect(Object.isFrozen(repo.entities[1]?.attributes)).toBe(true);
    expect(Object.isFrozen(doc)).toBe(false);
    expect(repo.features.map((f) => f.kind)).toEqual([
      'categorical',
      'categorical',
      'categorical',
      'numeric',
      'multi_categorical',
      'vector',
      'sequence',
    ]);
  });

  it('throws an error that lists every path-named problem', () => {
    let caught: unknown;
    try {
      parseFeatureRepo(read('bad/several-semantic.json'), 'shop.json');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FeatureRepoError);
    const err = caught as FeatureRepoError;
    expect(err.errors).toEqual(expected['bad/several-semantic.json']);
    expect(err.message).toContain(
      "shop.json: invalid feature repository\n  features.bought.side_features[2]: feature 'user_id'",
    );
  });

  it('names a JSON syntax error of the file', () => {
    expect(() => loadFeatureRepo(join(VECTORS, 'expected.json'))).toThrow(
      /missing required property 'format'/,
    );
  });
});

describe('the demo repository', () => {
  it('expresses exactly the built-in feature spec (libs/features/feature_spec.json)', () => {
    const repo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo'));
    const spec = loadFeatureSpec();
    const view = legacySpecView(repo);
    const fields = (list: { name: string; buckets: number; clip?: [number, number] }[]) =>
      list.map((f) => ({ name: f.name, buckets: f.buckets, ...(f.clip ? { clip: f.clip } : {}) }));
    expect(view.version).toBe(spec.version);
    expect(view.user_fields).toEqual(fields(spec.user_fields));
    expect(view.candidate_fields).toEqual(fields(spec.candidate_fields));
    expect(view.tags).toEqual(spec.tags);
    expect(view.history.length).toBe(spec.history.length);
    expect(view.history.order).toBe(spec.history.order);
    expect(view.history.age).toEqual({
      field: spec.history.age?.field,
      boundaries_ms: spec.history.age?.boundaries_ms,
    });
    expect(view.multimodal.dim).toBe(spec.multimodal.dim);
    expect(view.label).toEqual(spec.label);
  });

  it('declares the event contract and item catalogue attributes the stages use today', () => {
    const repo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo', 'repo.json'));
    const eventSchema = JSON.parse(
      readFileSync(join(ROOT, 'libs', 'contracts', 'src', 'schemas', 'event.v1.schema.json'), 'utf8'),
    ) as { properties: Record<string, { properties?: Record<string, unknown> }> };
    const itemSchema = JSON.parse(
      readFileSync(join(ROOT, 'libs', 'contracts', 'src', 'schemas', 'item.v1.schema.json'), 'utf8'),
    ) as { properties: Record<string, unknown> };
    const envelope = ['schema_version', 'event_id', 'type', 'ts_ms', 'user_id', 'item_id'];
    // Request context is accepted at the top level or under `context`: each name once.
    const contractAttrs = [
      ...new Set(
        Object.keys(eventSchema.properties)
          .filter((k) => !envelope.includes(k) && k !== 'context')
          .concat(Object.keys(eventSchema.properties.context?.properties ?? {})),
      ),
    ].sort();
    for (const t of repo.event_types) {
      expect((t.attributes ?? []).map((a) => a.name).sort()).toEqual(contractAttrs);
    }
    expect(repo.event_types.map((t) => t.name)).toEqual(
      (eventSchema.properties.type as unknown as { enum: string[] }).enum,
    );
    const item = repo.entities.find((e) => e.name === 'item');
    expect((item?.attributes ?? []).map((a) => a.name).sort()).toEqual(
      Object.keys(itemSchema.properties)
        .filter((k) => !['schema_version', 'item_id', 'ts_ms'].includes(k))
        .sort(),
    );
    expect(repo.context.attributes.map((a) => a.name)).toEqual([
      'device',
      'placement',
      'country',
      'position',
    ]);
  });
});

describe('the ad-platform repository', () => {
  it('is the same file as the shared good vector the Python loader checks', () => {
    const copy = read('good/ad-platform.json');
    expect(JSON.parse(readFileSync(join(ROOT, 'feature-repos', 'ad-platform', 'repo.json'), 'utf8'))).toEqual(
      copy,
    );
  });

  it('is valid and unlike the demo schema', () => {
    const repo = loadFeatureRepo(join(ROOT, 'feature-repos', 'ad-platform'));
    const attrs = [
      ...repo.entities.flatMap((e) => e.attributes ?? []),
      ...repo.event_types.flatMap((t) => t.attributes ?? []),
    ];
    expect(new Set(attrs.map((a) => a.name)).size).toBeGreaterThanOrEqual(15);
    expect(repo.context.attributes.map((a) => a.name)).not.toEqual(expect.arrayContaining(['device']));
    expect(
      repo.features.filter((f) => f.kind === 'numeric' && f.transform === 'standardize'),
    ).not.toHaveLength(0);
    expect(repo.features.filter((f) => f.kind === 'sequence')).toHaveLength(2);
    expect(repo.entities.find((e) => e.name === 'user')?.updates).toBe('snapshot');
  });
});
