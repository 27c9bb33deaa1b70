import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addColumnDdl, chLiteral, formatPlan, loadFeatureRepo, parseFeatureRepo, planChanges } from './index';
import type { FeatureRepo } from './types';

const ROOT = join(__dirname, '..', '..', '..');
const PLAN_VECTORS = join(__dirname, '..', 'test-vectors', 'plan');
const demo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo'));
const additive = loadFeatureRepo(join(PLAN_VECTORS, 'demo-additive.json'));
const breaking = loadFeatureRepo(join(PLAN_VECTORS, 'demo-breaking.json'));
const opts = { database: 'mmctr' };

interface EditableDoc {
  version: string;
  entities: { attributes: unknown[] }[];
  features: unknown[];
}

/** The demo repository with one edit applied to a mutable copy. */
function edited(edit: (doc: EditableDoc) => void): FeatureRepo {
  const path = join(ROOT, 'feature-repos', 'demo', 'repo.json');
  const doc = JSON.parse(readFileSync(path, 'utf8')) as EditableDoc;
  edit(doc);
  return parseFeatureRepo(doc);
}

describe('planChanges', () => {
  it('finds nothing between a repository and itself', () => {
    const plan = planChanges(demo, demo, opts);
    for (const [section, items] of Object.entries(plan)) expect([section, items]).toEqual([section, []]);
    expect(formatPlan(demo, demo, plan, false)).toBe('plan demo fs-2 -> demo fs-2\nno changes');
  });

  it('plans additive changes: columns with defaults, the new event type, contract and online store', () => {
    const plan = planChanges(demo, additive, opts);
    expect(plan.breaking).toEqual([]);
    expect(plan.ddl).toEqual([
      // The user entity had no table: it gets one, laid out like the items table.
      [
        'CREATE TABLE IF NOT EXISTS mmctr.user_profiles',
        '(',
        '    `user_id` String,',
        '    `ts_ms` UInt64,',
        '    `updated_at` DateTime,',
        '    `segments` Array(String) DEFAULT [],',
        '    `schema_version` UInt8,',
        '    `ingested_at` DateTime',
        ')',
        'ENGINE = ReplacingMergeTree',
        'ORDER BY (user_id, ts_ms)',
      ].join('\n'),
      'ALTER TABLE mmctr.items ADD COLUMN `price` Float64 DEFAULT 0',
      "ALTER TABLE mmctr.items ADD COLUMN `brand` String DEFAULT 'it\\'s \\\\ new'",
      "ALTER TABLE mmctr.events MODIFY COLUMN type Enum8('impression' = 1, 'click' = 2, 'conversion' = 3, 'add_to_cart' = 4)",
      "ALTER TABLE mmctr.events ADD COLUMN `app_version` String DEFAULT ''",
      'ALTER TABLE mmctr.events ADD COLUMN `quantity` Int64 DEFAULT 1',
      'ALTER TABLE mmctr.events ADD COLUMN `gift` UInt8 DEFAULT 0',
    ]);
    expect(plan.contract).toContain("+ event type 'add_to_cart' (entities user, item)");
    expect(plan.contract).toContain("+ item attribute 'price' (float, optional, default 0)");
    expect(plan.contract).toContain(
      '+ score request context \'app_version\' (request scope, string, optional, default "")',
    );
    expect(plan.onlineStore).toEqual([
      "+ user hash field 'segments'",
      "+ item hash field 'price'",
      "+ item hash field 'brand'",
      "+ user sequence 'cart_hist' of add_to_cart (item, length 16)",
    ]);
    expect(plan.features).toEqual(["+ feature 'item_price' (numeric)", "+ feature 'cart_hist' (sequence)"]);
    expect(plan.notes).toEqual([]);
    expect(plan.reencoded).toEqual([]);
  });

  it('names every breaking change and plans no DDL for them', () => {
    const plan = planChanges(demo, breaking, opts);
    expect(plan.breaking).toEqual([
      'entities.item.attributes.image: attribute removed',
      'event_types.impression.attributes.position.type: int -> float',
      'context.attributes.position: attribute removed',
      'features.device.buckets: 64 -> 128',
      'features.country: feature removed',
      'features.position.clip: [0,31] -> unset',
      'features.position.source: "context.position" -> "item.item_id"',
      'label.attribution_window_ms: 1800000 -> 3600000',
    ]);
    expect(plan.reencoded).toEqual(['device', 'country', 'position']);
    expect(plan.ddl).toEqual([]);
    const refused = formatPlan(demo, breaking, plan, false);
    expect(refused).toContain('breaking changes:\n  entities.item.attributes.image: attribute removed');
    expect(refused).toMatch(/refused: 8 breaking change\(s\); pass --allow-breaking/);
    const allowed = formatPlan(demo, breaking, plan, true);
    expect(allowed).toContain('breaking changes (allowed):');
    expect(allowed).not.toContain('refused');
  });

  it('treats a new required attribute and a kind change as breaking', () => {
    const next = edited((d) => {
      d.version = 'fs-3';
      d.entities[1]?.attributes.push({ name: 'sku', type: 'string', required: true });
      d.features[6] = {
        name: 'category',
        kind: 'multi_categorical',
        source: 'item.tags',
        buckets: 8,
        max_length: 2,
        pooling: 'sum',
      };
    });
    expect(planChanges(demo, next, opts).breaking).toEqual([
      'entities.item.attributes.sku: new required attribute (existing producers lack it)',
      'features.category.kind: categorical -> multi_categorical',
    ]);
  });

  it('lets a vocabulary grow at its end but not change its existing ids', () => {
    // The demo repository with `device` as a vocabulary feature; `version` set when it is a new one.
    const withDevices = (vocabulary: string[], version?: string) =>
      edited((d) => {
        if (version) d.version = version;
        d.features[1] = {
          name: 'device',
          kind: 'categorical',
          source: 'context.device',
          encoding: 'vocabulary',
          vocabulary,
        };
      });
    const base = withDevices(['ios', 'android']);
    const grown = withDevices(['ios', 'android', 'web'], 'fs-3');
    const reordered = withDevices(['android', 'ios'], 'fs-3');
    expect(planChanges(base, grown, opts)).toMatchObject({
      breaking: [],
      features: ['features.device.vocabulary: + web'],
    });
    expect(planChanges(base, reordered, opts).breaking).toEqual([
      'features.device.vocabulary: ["ios","android"] -> ["android","ios"]',
    ]);
  });

  it('classifies a new aggregate feature like any other new feature; changing its windows re-encodes it', () => {
    const aggregations = [
      {
        name: 'item_clicks',
        key: ['item'],
        source: 'click',
        op: 'count',
        windows: ['1h', '24h'],
        granularity: [{ up_to: '24h', bucket: '1h' }],
        transform: 'log1p',
      },
    ];
    const withAggregations = edited((doc) => Object.assign(doc, { aggregations }));
    const withFeature = (windows?: string[]): FeatureRepo =>
      edited((doc) => {
        Object.assign(doc, { aggregations, version: 'fs-3' });
        doc.features.push({ name: 'item_clicks', kind: 'aggregate', aggregation: 'item_clicks', windows });
      });
    const added = planChanges(withAggregations, withFeature(), opts);
    expect(added.features).toEqual(["+ feature 'item_clicks' (aggregate)"]);
    expect(added.breaking).toEqual([]);
    const narrowed = planChanges(withFeature(), withFeature(['1h']), opts);
    expect(narrowed.breaking).toEqual(['features.item_clicks.windows: unset -> ["1h"]']);
    expect(narrowed.reencoded).toEqual(['item_clicks']);
  });

  it('lists new and removed aggregations; a changed one is breaking and re-encodes the features reading it', () => {
    const demoAggregates = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo-aggregates'));
    const added = planChanges(demo, demoAggregates, opts);
    expect(added).toMatchObject({
      breaking: [],
      onlineStore: [
        "+ aggregation 'item_impressions' (count of impression per item, windows 1h / 24h / 7d, 1m buckets up to 1h, 1h buckets up to 7d)",
        "+ aggregation 'item_clicks' (count of click per item, windows 1h / 24h / 7d, 1m buckets up to 1h, 1h buckets up to 7d)",
        "+ aggregation 'item_ctr' (ratio of item_clicks / item_impressions: no counters of its own)",
        "+ aggregation 'user_category_clicks' (count of click per user x item.category, windows 7d, 1h buckets up to 7d)",
      ],
    });
    expect(added.notes).toContain(
      "aggregation 'item_clicks' counts the events ingest stores from now on: until its widest window (7d) has passed, its online values fall short of the offline ones",
    );

    const doc = JSON.parse(
      readFileSync(join(ROOT, 'feature-repos', 'demo-aggregates', 'repo.json'), 'utf8'),
    ) as { aggregations: { name: string; description?: string; granularity: { bucket: string }[] }[] };
    const clicks = doc.aggregations.find((a) => a.name === 'item_clicks')!;
    clicks.granularity[0]!.bucket = '5m';
    clicks.description = 'reworded: not a change of values';
    const regrained = planChanges(demoAggregates, parseFeatureRepo(doc), opts);
    expect(regrained.breaking).toEqual([
      'aggregations.item_clicks.granularity: [{"up_to":"1h","bucket":"1m"},{"up_to":"7d","bucket":"1h"}] -> [{"up_to":"1h","bucket":"5m"},{"up_to":"7d","bucket":"1h"}]',
    ]);
    // item_ctr reads item_clicks through its ratio.
    expect(regrained.reencoded).toEqual(
      demoAggregates.features
        .filter((f) => f.kind === 'aggregate' && f.aggregation === 'item_ctr')
        .map((f) => f.name),
    );
    expect(regrained.reencoded.length).toBeGreaterThan(0);

    expect(planChanges(demoAggregates, demo, opts).onlineStore).toContain(
      "- aggregation 'user_category_clicks': ingest stops counting it; its counters expire by their TTL",
    );
  });

  it('asks for a new version when the definitions changed', () => {
    const next = edited((d) =>
      d.features.push({
        name: 'dow',
        kind: 'categorical',
        source: 'context.ts_ms',
        encoding: 'hash',
        buckets: 8,
        derive: 'day_of_week_utc',
      }),
    );
    expect(planChanges(demo, next, opts).notes).toEqual([
      "version is still 'fs-2': give the changed repository a new version",
    ]);
  });
});

describe('ClickHouse literals', () => {
  it('escapes strings as the query binder does and writes every attribute type', () => {
    expect(chLiteral('string', "a'b\\c\n\t\0")).toBe("'a\\'b\\\\c\\n\\t\\0'");
    expect(chLiteral('int', -3)).toBe('-3');
    expect(chLiteral('float', 9.5)).toBe('9.5');
    expect(chLiteral('bool', true)).toBe('1');
    expect(chLiteral('string_list', ['x', "y'"])).toBe("['x', 'y\\'']");
    expect(addColumnDdl('db', 't', { name: 'tags2', type: 'string_list' })).toBe(
      'ALTER TABLE db.t ADD COLUMN `tags2` Array(String) DEFAULT []',
    );
  });
});
