// The item cache's load and refresh from the real ClickHouse (a database of this test's own, migrated):
// several pages of item_id ranges, items with two versions, vectors replaced, empty and of another
// projection, then a refresh that reads only what changed, and a reconcile that finds a row stored behind
// the overlap. ItemCacheService runs its real refresh through ItemCatalogRepository; the expectations come
// from the rows this test wrote.
import { createLogger } from '@mmctr/observability';
import { TestDatabase } from '../../../../test/support/ingest/test-database';
import { aggregatesLayout } from '../../test/support/aggregate-layout';
import { loadScorerConfig } from '../config/scorer-config';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { ItemCacheService } from './item-cache.service';
import { ItemCatalogRepository } from './item-catalog.repository';
import type { ItemOnlineRepository } from './item-online.repository';

jest.setTimeout(120_000);

const N = 250; // pages of 100: three, the last one short
const T0_S = 1_767_268_800;
const id = (i: number) => `it-${1000 + i}`;

describe('ItemCatalogRepository paging (real ClickHouse)', () => {
  const db = new TestDatabase();
  const layout = aggregatesLayout();
  const width = layout.embedding!.width;
  const category = layout.aggregateKeyAttributes.findIndex((a) => a.name === 'category');

  const item = (i: number, cat: string, tsMs: number, ingestedS: number) => ({
    item_id: id(i),
    ts_ms: tsMs,
    updated_at: ingestedS,
    title: `t${i}`,
    description: '',
    category: cat,
    tags: [],
    image: '',
    content_hash: `h${i}`,
    schema_version: 1,
    ingested_at: ingestedS,
  });
  const vector = (i: number, x: number, pv: string, createdMs: number, empty = false) => ({
    item_id: id(i),
    content_hash: `h${i}-${createdMs}`,
    image_vec: [],
    text_vec: [],
    fused_vec: empty ? [] : Array.from({ length: width }, (_, j) => (j === 0 ? i : x)),
    image_encoder: 'img',
    text_encoder: 'txt',
    projection_version: pv,
    created_ms: createdMs,
    created_at: Math.floor(createdMs / 1000),
  });

  /** What the cache should hold for item i: its newest category and first two vector values (null: none). */
  const expected = (i: number) => ({
    category: i % 3 === 0 ? `new${i}` : 'old',
    vector: i % 5 === 4 ? null : [i, i % 7 === 0 ? 2 : 1],
  });

  beforeAll(async () => {
    await db.create();
    await db.migrate();
    const items = [];
    const vectors = [];
    for (let i = 0; i < N; i++) {
      items.push(item(i, 'old', 1_000, T0_S));
      if (i % 3 === 0) items.push(item(i, `new${i}`, 2_000, T0_S));
      if (i % 5 === 4)
        vectors.push(vector(i, 0, 'p1', 30_000, true)); // only an empty vector
      else vectors.push(vector(i, 1, 'p1', 10_000));
      if (i % 7 === 0 && i % 5 !== 4) vectors.push(vector(i, 2, 'p1', 20_000)); // a newer one
      if (i % 11 === 0) vectors.push(vector(i, 9, 'p0', 40_000)); // another projection
    }
    // Reversed and in two inserts: the pages come from the sort key, not the insert order.
    await db.clickhouse.insert('items', items.reverse());
    await db.clickhouse.insert('item_embeddings', vectors.slice(0, 100));
    await db.clickhouse.insert('item_embeddings', vectors.slice(100));
  });

  afterAll(() => db.drop());

  function service(env: Record<string, string> = {}) {
    const config = loadScorerConfig({
      SCORER_ITEM_CACHE_PAGE_ROWS: '100',
      SCORER_PROJECTION_VERSION: 'p1',
      ...env,
    });
    const logger = createLogger('scorer', 'silent');
    const catalog = new ItemCatalogRepository(db.clickhouse, layout);
    const noRedis = null as unknown as ItemOnlineRepository; // a refresh reads ClickHouse only
    return new ItemCacheService(config, catalog, noRedis, new ScorerMetrics(), logger, layout);
  }

  /** The server's own sum of cityHash64(key, version) over these (item, version) pairs. */
  const sumOfHashes = async (versions: [number, number][]) => {
    const terms = versions.map(([i, ts]) => `cityHash64('${id(i)}', toUInt64(${ts}))`).join(' + ');
    const [row] = await db.clickhouse.query<{ h: string }>(`SELECT toString(${terms}) AS h`);
    return row!.h;
  };

  const held = (s: ItemCacheService, i: number) => {
    const row = s.cache.row(id(i));
    const v = s.cache.hasVectorAt(row) ? Array.from(s.cache.vectorAt(row).slice(0, 2)) : null;
    return { category: s.cache.aggregateKey(category, row), vector: v };
  };

  it('loads every item over several pages with its newest attributes and newest non-empty vector of the projection', async () => {
    const s = service();
    await s.refresh();
    expect(s.isLoaded).toBe(true);
    expect(s.cache.size).toBe(N);
    for (let i = 0; i < N; i++) expect([i, held(s, i)]).toEqual([i, expected(i)]);
  });

  it('refreshes only what was ingested or embedded since: a new version, a new item and a new vector', async () => {
    const s = service();
    await s.refresh();
    await db.clickhouse.insert('items', [
      item(1, 'fresh', 3_000, T0_S + 60),
      item(N, 'added', 1_000, T0_S + 60),
    ]);
    await db.clickhouse.insert('item_embeddings', [vector(4, 5, 'p1', 50_000), vector(8, 6, 'p0', 60_000)]);
    await s.refresh();
    expect(s.cache.size).toBe(N + 1);
    expect(held(s, 1)).toEqual({ category: 'fresh', vector: [1, 1] });
    expect(held(s, N)).toEqual({ category: 'added', vector: null });
    expect(held(s, 4)).toEqual({ category: 'old', vector: [4, 5] });
    expect(held(s, 8)).toEqual(expected(8)); // p0 is not the projection served
  });

  it('reads the overlap second again only when its rows changed', async () => {
    const bulkS = T0_S + 120; // a later bulk load: every row in one second
    await db.clickhouse.insert('items', [item(2, 'bulk', 4_000, bulkS), item(5, 'bulk', 4_000, bulkS)]);
    const catalog = new ItemCatalogRepository(db.clickhouse, layout);
    const bulk = {
      rows: 2,
      hash: await sumOfHashes([
        [2, 4_000],
        [5, 4_000],
      ]),
    };
    expect(await catalog.itemsIngested(bulkS - 1, bulkS)).toEqual(bulk);
    expect(await catalog.itemsIngested(bulkS, bulkS + 5)).toEqual(bulk);
    expect(await catalog.itemsIngested(bulkS + 1, bulkS + 5)).toEqual({ rows: 0, hash: '0' });
    // Vectors of the served projection created in a span, empty ones included (p0 and others are not).
    const items = Array.from({ length: N }, (_, i) => i);
    const newer = items.filter((i) => i % 7 === 0 && i % 5 !== 4).map((i): [number, number] => [i, 20_000]);
    const empty = items.filter((i) => i % 5 === 4).map((i): [number, number] => [i, 30_000]);
    expect(await catalog.vectorsCreated(20_000, 20_000, 'p1')).toEqual({
      rows: newer.length,
      hash: await sumOfHashes(newer),
    });
    expect(await catalog.vectorsCreated(15_000, 30_000, 'p1')).toEqual({
      rows: newer.length + empty.length,
      hash: await sumOfHashes([...newer, ...empty]),
    });

    const s = service();
    const reads = jest.spyOn(ItemCatalogRepository.prototype, 'items');
    try {
      await s.refresh(); // everything
      await s.refresh(); // the overlap, bulkS - 1 on: not counted there before
      reads.mockClear();
      await s.refresh();
      expect(reads).not.toHaveBeenCalled();
      await db.clickhouse.insert('items', [item(2, 'bulk2', 5_000, bulkS)]);
      await s.refresh();
      expect(reads).toHaveBeenCalledWith('', expect.any(String), bulkS - 10, undefined); // the default 10 s overlap, unbounded
      expect(held(s, 2).category).toBe('bulk2');
    } finally {
      reads.mockRestore();
    }
  });

  it('reads a bucket again when a row is stored an hour behind the watermark (the reconcile)', async () => {
    const catalog = new ItemCatalogRepository(db.clickhouse, layout);
    const hour = (s: number) => Math.floor(s / 3600);
    await db.clickhouse.insert('items', [item(3, 'later', 6_000, T0_S + 7_200)]);
    // Digests per bucket of ingested_at (an hour) and of created_ms, cut before a value.
    const buckets = await catalog.itemBuckets(3600);
    expect(buckets.at(-1)).toEqual({
      bucket: hour(T0_S + 7_200),
      rows: 1,
      hash: await sumOfHashes([[3, 6_000]]),
    });
    expect((await catalog.itemBuckets(3600, T0_S + 7_200)).map((b) => b.bucket)).toEqual([hour(T0_S)]);
    const newer = Array.from({ length: N }, (_, i) => i)
      .filter((i) => i % 7 === 0 && i % 5 !== 4)
      .map((i): [number, number] => [i, 20_000]);
    const vectorBuckets = await catalog.vectorBuckets(10_000, 'p1', 30_000);
    expect(vectorBuckets.map((b) => b.bucket)).toEqual([1, 2]);
    expect(vectorBuckets[1]).toEqual({ bucket: 2, rows: newer.length, hash: await sumOfHashes(newer) });

    const plain = service({ SCORER_ITEM_CACHE_RECONCILE_MS: '0' });
    const reconciling = service({ SCORER_ITEM_CACHE_RECONCILE_MS: '1' });
    for (const s of [plain, reconciling]) {
      await s.refresh();
      await s.refresh();
    }
    // Item 6's new version, ingested (by its clock) in the first hour, visible only now.
    await db.clickhouse.insert('items', [item(6, 'late', 7_000, T0_S + 30)]);
    await new Promise((r) => setTimeout(r, 5)); // past the 1 ms reconcile interval
    const pages = jest.spyOn(ItemCatalogRepository.prototype, 'itemPage');
    try {
      await plain.refresh();
      await reconciling.refresh();
      expect(held(plain, 6).category).toBe('new6'); // missed: behind the 10 s overlap
      expect(held(reconciling, 6).category).toBe('late');
      // Only the late row's hour was read again, in bounded pages.
      const bounded = pages.mock.calls.filter((c) => c[3] !== undefined).map((c) => [c[1], c[3]]);
      expect(new Set(bounded.map(String))).toEqual(new Set([String([T0_S, T0_S + 3600])]));
    } finally {
      pages.mockRestore();
    }
  });
});
