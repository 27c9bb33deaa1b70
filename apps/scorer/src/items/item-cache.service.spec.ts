import type { PageEnd } from '@mmctr/clickhouse';
import type { Logger } from 'pino';
import { loadScorerConfig } from '../config/scorer-config';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { demoLayout } from '../../test/support/test-layout';
import { ItemCacheService } from './item-cache.service';
import type {
  BucketDigest,
  CatalogRow,
  ItemCatalogRepository,
  RowsDigest,
  VectorRow,
} from './item-catalog.repository';
import type { ItemOnlineRepository, OnlineItem } from './item-online.repository';

const layout = demoLayout();
const DIM = layout.embedding!.width;
const PAGE = 100;

/** Any digest of the rows' (key, version) does for the fake: the service only compares it. */
const digest = (versions: [string, number][]): RowsDigest => ({
  rows: versions.length,
  hash: versions.map(([key, version]) => `${key}@${version}`).join(','),
});

/** Per bucket of `width` of a watermark value, the digest of the rows before `before`. */
function bucketDigests<T extends { item_id: string }>(
  rows: T[],
  value: (r: T) => number,
  version: (r: T) => number,
  width: number,
  before = Infinity,
): BucketDigest[] {
  const byBucket = new Map<number, [string, number][]>();
  for (const r of rows.filter((r) => value(r) < before)) {
    const b = Math.floor(value(r) / width);
    byBucket.set(b, [...(byBucket.get(b) ?? []), [r.item_id, version(r)]]);
  }
  return [...byBucket].sort(([a], [b]) => a - b).map(([bucket, v]) => ({ bucket, ...digest(v) }));
}

/** ClickHouse's catalogue in memory, answering like ItemCatalogRepository (sorted by id, paged, watermarked). */
class FakeCatalog {
  items: CatalogRow[] = [];
  vectors: VectorRow[] = [];
  calls: { kind: 'items' | 'vectors'; after: string; since: number; until?: number }[] = [];
  bucketCalls: { kind: 'items' | 'vectors'; before?: number }[] = [];
  down = false;
  bucketsDown = false;

  asRepository(): ItemCatalogRepository {
    const items = this.pages<CatalogRow>(
      'items',
      () => this.items,
      (r, s, u) => r.ingested_s >= s && r.ingested_s < u,
    );
    const vectors = this.pages<VectorRow>(
      'vectors',
      () => this.vectors,
      (r, s, u) => r.created_ms > s && r.created_ms < u,
    );
    const buckets = (kind: 'items' | 'vectors', before: number | undefined, answer: () => BucketDigest[]) => {
      this.bucketCalls.push(before === undefined ? { kind } : { kind, before });
      return this.bucketsDown ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(answer());
    };
    return {
      itemBuckets: (width: number, before?: number) =>
        buckets('items', before, () =>
          bucketDigests(
            this.items,
            (r) => r.ingested_s,
            (r) => r.ts_ms,
            width,
            before,
          ),
        ),
      vectorBuckets: (width: number, _pv: string, before?: number) =>
        buckets('vectors', before, () =>
          bucketDigests(
            this.vectors,
            (r) => r.created_ms,
            (r) => r.created_ms,
            width,
            before,
          ),
        ),
      itemsIngested: (from: number, to: number) => {
        if (this.down) return Promise.reject(new Error('ECONNREFUSED'));
        const rows = this.items.filter((r) => r.ingested_s >= from && r.ingested_s <= to);
        return Promise.resolve(digest(rows.map((r) => [r.item_id, r.ts_ms])));
      },
      vectorsCreated: (from: number, to: number) => {
        const rows = this.vectors.filter((r) => r.created_ms >= from && r.created_ms <= to);
        return Promise.resolve(digest(rows.map((r) => [r.item_id, r.created_ms])));
      },
      itemPage: items.end,
      items: items.rows,
      vectorPage: (after: string, since: number, _pv: string, limit: number, until?: number) =>
        vectors.end(after, since, limit, until),
      vectors: (after: string, last: string, since: number, _pv: string, until?: number) =>
        vectors.rows(after, last, since, until),
    } as unknown as ItemCatalogRepository;
  }

  /**
   * One kind's page ends and page rows, as the repository answers them: rows changed since (and before
   * until), in id order.
   */
  private pages<T extends { item_id: string }>(
    kind: 'items' | 'vectors',
    all: () => T[],
    changed: (r: T, since: number, until: number) => boolean,
  ) {
    const after = (id: string, since: number, until = Infinity) =>
      all()
        .filter((r) => r.item_id > id && changed(r, since, until))
        .sort((a, b) => a.item_id.localeCompare(b.item_id));
    return {
      end: (id: string, since: number, limit: number, until?: number): Promise<PageEnd | undefined> => {
        this.calls.push(until === undefined ? { kind, after: id, since } : { kind, after: id, since, until });
        if (this.down) return Promise.reject(new Error('ECONNREFUSED'));
        const page = after(id, since, until).slice(0, limit);
        const last = page.at(-1)?.item_id;
        return Promise.resolve(last === undefined ? undefined : { last, full: page.length === limit });
      },
      rows: (id: string, last: string, since: number, until?: number) =>
        Promise.resolve(after(id, since, until).filter((r) => r.item_id <= last)),
    };
  }
}

/** Redis's items in memory, answering like ItemOnlineRepository.fetch; `pending` holds every answer back. */
class FakeOnline {
  known = new Map<string, OnlineItem>();
  fetches: string[][] = [];
  failure: Error | null = null;
  pending: Promise<void> | null = null;

  asRepository(): ItemOnlineRepository {
    return {
      fetch: async (ids: readonly string[]) => {
        this.fetches.push([...ids]);
        if (this.pending) await this.pending;
        if (this.failure) throw this.failure;
        return ids.map((id) => this.known.get(id) ?? null);
      },
    } as unknown as ItemOnlineRepository;
  }
}

const id = (i: number) => `item-${String(i).padStart(4, '0')}`;
const catalogRow = (i: number, ingestedS = 1000): CatalogRow => ({
  item_id: id(i),
  attributes: { category: `c${i % 7}`, tags: ['t'] },
  ts_ms: 10 * i,
  ingested_s: ingestedS,
});
const vector = (x: number) => Array.from({ length: DIM }, () => x);

function setup(env: Record<string, string> = {}) {
  const config = loadScorerConfig({
    SCORER_ITEM_CACHE_PAGE_ROWS: String(PAGE),
    SCORER_REDIS_TIMEOUT_MS: '50',
    SCORER_NEGATIVE_CACHE_MS: '60000',
    SCORER_ITEM_CACHE_OVERLAP_MS: '1000',
    ...env,
  });
  const catalog = new FakeCatalog();
  const online = new FakeOnline();
  const metrics = new ScorerMetrics();
  const warnings: string[] = [];
  const logger = {
    info: () => undefined,
    warn: (_: unknown, msg: string) => warnings.push(msg),
  } as unknown as Logger;
  const service = new ItemCacheService(
    config,
    catalog.asRepository(),
    online.asRepository(),
    metrics,
    logger,
    layout,
  );
  const values = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels, v.value]);
  return { service, catalog, online, warnings, values };
}

describe('ItemCacheService: loading from the catalogue', () => {
  it('loads every page of items and vectors at start, then only what changed since', async () => {
    const t = setup();
    t.catalog.items = Array.from({ length: 150 }, (_, i) => catalogRow(i));
    t.catalog.vectors = [{ item_id: id(3), fused_vec: vector(0.5), created_ms: 7_000 }];
    expect(t.service.isLoaded).toBe(false);
    await t.service.onApplicationBootstrap();
    t.service.onApplicationShutdown();

    expect(t.service.isLoaded).toBe(true);
    expect(t.service.cache.size).toBe(150);
    expect(t.catalog.calls.filter((c) => c.kind === 'items').map((c) => c.after)).toEqual(['', id(99)]);
    const row = t.service.cache.row(id(3));
    expect(t.service.cache.hasVectorAt(row)).toBe(true);
    expect(t.service.cache.vectorAt(row)[0]).toBe(0.5);
    expect(await t.values('mmctr_scorer_item_cache_rows')).toEqual([[{}, 150]]);

    // Later refreshes ask from the watermarks less the overlap (1 s here): ingested_at from 999 on,
    // vectors created after 5,999 ms.
    t.catalog.calls = [];
    t.catalog.items.push(catalogRow(500, 1005));
    await t.service.refresh();
    expect(t.catalog.calls.filter((c) => c.kind === 'items').every((c) => c.since === 999)).toBe(true);
    expect(t.catalog.calls.find((c) => c.kind === 'vectors')).toEqual({
      kind: 'vectors',
      after: '',
      since: 5_999,
    });
    t.catalog.calls = [];
    await t.service.refresh();
    expect(t.catalog.calls).toEqual([
      { kind: 'items', after: '', since: 1004 },
      { kind: 'vectors', after: '', since: 7_000 }, // the overlap as last counted: after the watermark
    ]);
    expect(t.service.cache.size).toBe(151);
    expect(await t.values('mmctr_scorer_item_cache_refreshes_total')).toEqual([[{ result: 'ok' }, 3]]);
  });

  it('reads the overlap second again only when its rows changed (a bulk load shares one second)', async () => {
    const t = setup();
    t.catalog.items = Array.from({ length: 150 }, (_, i) => catalogRow(i, 2000));
    await t.service.refresh(); // everything, from 0
    await t.service.refresh(); // the overlap, second 1999 on: not counted there before
    const itemCalls = () => t.catalog.calls.filter((c) => c.kind === 'items').map((c) => c.since);
    expect(itemCalls()).toEqual([0, 0, 1999, 1999]);
    const upserts = jest.spyOn(t.service.cache, 'upsertItem');

    // Nothing new: only what came after the watermark second is asked for, and nothing is read.
    t.catalog.calls = [];
    await t.service.refresh();
    await t.service.refresh();
    expect(itemCalls()).toEqual([2001, 2001]);
    expect(upserts).not.toHaveBeenCalled();

    // A row in a later second: that row only.
    t.catalog.calls = [];
    t.catalog.items.push(catalogRow(200, 2005));
    await t.service.refresh();
    expect(itemCalls()).toEqual([2001]);
    expect(upserts.mock.calls.map(([r]) => r.item_id)).toEqual([id(200)]);

    // A new version stored in the (new) watermark's own second changes the overlap: read again.
    await t.service.refresh(); // the overlap of second 2005, once
    upserts.mockClear();
    t.catalog.calls = [];
    t.catalog.items.push({ ...catalogRow(7, 2005), ts_ms: 99_999 });
    await t.service.refresh();
    expect(itemCalls()).toEqual([2004]);
    expect(upserts.mock.calls.map(([r]) => [r.item_id, r.ts_ms])).toEqual([
      [id(7), 99_999],
      [id(200), 2_000],
    ]);
  });

  it('picks up a vector stored late with an older created_ms, within SCORER_ITEM_CACHE_OVERLAP_MS', async () => {
    const t = setup({ SCORER_ITEM_CACHE_OVERLAP_MS: '10000' });
    t.catalog.items = [catalogRow(1), catalogRow(2), catalogRow(3)];
    t.catalog.vectors = [{ item_id: id(1), fused_vec: vector(0.1), created_ms: 50_000 }];
    await t.service.refresh();
    await t.service.refresh();
    // Another embedder's insert lands after the refresh that saw 50,000: 4 s older, and 11 s older.
    t.catalog.vectors.push(
      { item_id: id(2), fused_vec: vector(0.2), created_ms: 46_000 },
      { item_id: id(3), fused_vec: vector(0.3), created_ms: 39_000 },
    );
    await t.service.refresh();
    const held = (i: number) => t.service.cache.hasVectorAt(t.service.cache.row(id(i)));
    expect([held(1), held(2), held(3)]).toEqual([true, true, false]); // the last is past the overlap
    expect(t.service.cache.vectorAt(t.service.cache.row(id(2)))[0]).toBeCloseTo(0.2);
  });

  it('keeps serving what it holds when a refresh fails, and counts the failure', async () => {
    const t = setup();
    t.catalog.down = true;
    await t.service.refresh();
    expect(t.service.isLoaded).toBe(false);
    expect(t.warnings).toEqual(['item cache refresh failed; serving the cached rows']);
    expect(await t.values('mmctr_scorer_item_cache_refreshes_total')).toEqual([[{ result: 'failed' }, 1]]);
  });

  it('reads nothing from ClickHouse with SCORER_ITEM_CACHE_SOURCE=none, and counts as loaded', async () => {
    const t = setup({ SCORER_ITEM_CACHE_SOURCE: 'none' });
    await t.service.onApplicationBootstrap();
    expect(t.catalog.calls).toEqual([]);
    expect(t.service.isLoaded).toBe(true);
  });
});

describe('ItemCacheService: reconciling rows stored behind the overlap', () => {
  /** The scorer's clock, in ms: the reconcile's interval and horizon read it. */
  let clock = 10_000_000;
  beforeEach(() => {
    clock = 10_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
  });
  afterEach(() => jest.restoreAllMocks());

  const reconciling = () =>
    setup({ SCORER_ITEM_CACHE_RECONCILE_MS: '60000', SCORER_ITEM_CACHE_RECONCILE_BUCKET_S: '100' });
  /** The page reads a reconcile made: the bounded ones (a refresh never sets `until`). */
  const rereads = (t: ReturnType<typeof setup>) => t.catalog.calls.filter((c) => c.until !== undefined);

  it('reads a bucket again when a row arrives behind the overlap, only that bucket, only once', async () => {
    const t = reconciling();
    t.catalog.items = [...Array.from({ length: 150 }, (_, i) => catalogRow(i, 1000)), catalogRow(200, 5000)];
    await t.service.refresh(); // the first load, after every bucket's digest
    expect(t.catalog.bucketCalls).toEqual([{ kind: 'items' }, { kind: 'vectors' }]);
    await t.service.refresh(); // the overlap, once after the watermark moved
    const upserts = jest.spyOn(t.service.cache, 'upsertItem');

    // A new version of item 7 ingested at second 1050, stored after the refresh passed 5000: the
    // overlap (1 s) does not reach it, and the reconcile is not due yet.
    t.catalog.items.push({ ...catalogRow(7, 1050), ts_ms: 99_999 });
    await t.service.refresh();
    expect(upserts).not.toHaveBeenCalled();
    expect(t.catalog.bucketCalls).toHaveLength(2);

    clock += 60_000;
    t.catalog.calls = [];
    await t.service.refresh();
    // Buckets before the horizon (the clock less the overlap: second 10,059, so buckets before 10,000 s).
    expect(t.catalog.bucketCalls.slice(2)).toEqual([
      { kind: 'items', before: 10_000 },
      { kind: 'vectors', before: 10_000_000 },
    ]);
    // Two pages of 100 rows (the bucket's 151 rows: item 7 twice).
    expect(rereads(t)).toEqual([
      { kind: 'items', after: '', since: 1000, until: 1100 },
      { kind: 'items', after: id(98), since: 1000, until: 1100 },
    ]);
    expect(upserts.mock.calls.filter(([r]) => r.item_id === id(7)).map(([r]) => r.ts_ms)).toContain(99_999);
    expect(await t.values('mmctr_scorer_item_cache_reread_buckets_total')).toEqual([[{ kind: 'items' }, 1]]);

    clock += 60_000;
    t.catalog.calls = [];
    await t.service.refresh();
    expect(rereads(t)).toEqual([]);
    expect(await t.values('mmctr_scorer_item_cache_reconciles_total')).toEqual([[{ result: 'ok' }, 2]]);
  });

  it('reads a bucket filled by refreshes once, when it falls behind the horizon', async () => {
    const t = reconciling();
    t.catalog.items = [catalogRow(1, 1000)];
    await t.service.refresh();
    t.catalog.items.push(catalogRow(2, 9_950), catalogRow(3, 9_990)); // bucket 99: [9,900, 10,000) s
    await t.service.refresh();

    // At second 9,999 (the clock less the overlap) bucket 99 can still get rows on time: not compared.
    clock = 10_000_000 + 60_000 - 61_000;
    t.catalog.calls = [];
    await t.service.refresh();
    expect(rereads(t)).toEqual([]);

    clock += 61_000;
    await t.service.refresh();
    expect(rereads(t)).toEqual([{ kind: 'items', after: '', since: 9_900, until: 10_000 }]);
  });

  it('reads adjacent changed buckets in one range, and a late vector behind the overlap', async () => {
    const t = reconciling();
    t.catalog.items = [1, 2, 3].map((i) => catalogRow(i, 1000));
    t.catalog.vectors = [{ item_id: id(1), fused_vec: vector(0.1), created_ms: 9_000_000 }];
    await t.service.refresh();
    t.catalog.items.push({ ...catalogRow(2, 1150), ts_ms: 5 }, { ...catalogRow(3, 1250), ts_ms: 6 });
    t.catalog.vectors.push({ item_id: id(2), fused_vec: vector(0.2), created_ms: 150_000 });
    clock += 60_000;
    t.catalog.calls = [];
    await t.service.refresh();
    expect(rereads(t)).toEqual([
      { kind: 'items', after: '', since: 1100, until: 1300 },
      { kind: 'vectors', after: '', since: 99_999, until: 200_000 },
    ]);
    const row = t.service.cache.row(id(2));
    expect(t.service.cache.hasVectorAt(row)).toBe(true);
    expect(t.service.cache.vectorAt(row)[0]).toBeCloseTo(0.2);
  });

  it('counts a failed reconcile, keeps the refresh, and tries again at the next interval', async () => {
    const t = reconciling();
    t.catalog.items = [catalogRow(1, 1000)];
    await t.service.refresh();
    t.catalog.items.push({ ...catalogRow(1, 1010), ts_ms: 77 });
    t.catalog.bucketsDown = true;
    clock += 60_000;
    await t.service.refresh();
    expect(t.warnings).toEqual(['item cache reconcile failed; retried at the next interval']);
    expect(await t.values('mmctr_scorer_item_cache_reconciles_total')).toEqual([[{ result: 'failed' }, 1]]);
    expect(await t.values('mmctr_scorer_item_cache_refreshes_total')).toEqual([[{ result: 'ok' }, 2]]);

    t.catalog.bucketsDown = false;
    await t.service.refresh(); // within the interval: not yet
    expect(rereads(t)).toEqual([]);
    clock += 60_000;
    await t.service.refresh();
    expect(rereads(t)).toEqual([{ kind: 'items', after: '', since: 1000, until: 1100 }]);
  });

  it('takes no digest with SCORER_ITEM_CACHE_RECONCILE_MS=0', async () => {
    const t = setup({ SCORER_ITEM_CACHE_RECONCILE_MS: '0' });
    t.catalog.items = [catalogRow(1, 1000)];
    await t.service.refresh();
    clock += 3_600_000;
    await t.service.refresh();
    expect(t.catalog.bucketCalls).toEqual([]);
  });
});

describe('ItemCacheService: lookups', () => {
  it('answers cached rows, fetches each miss once from Redis and negative-caches unknown ids', async () => {
    const t = setup();
    t.catalog.items = [catalogRow(1)];
    await t.service.refresh();
    t.online.known.set('fresh', {
      item_id: 'fresh',
      attributes: { category: 'c', tags: [] },
      ts_ms: 5,
      vector: Float32Array.from(vector(0.25)),
    });

    const first = await t.service.lookup([id(1), 'fresh', 'ghost', 'fresh']);
    expect(first.failed).toBe(false);
    expect(t.online.fetches).toEqual([['fresh', 'ghost']]);
    const fresh = t.service.cache.row('fresh');
    expect(Array.from(first.rows)).toEqual([t.service.cache.row(id(1)), fresh, -1, fresh]);
    expect(t.service.cache.vectorAt(fresh)[0]).toBe(0.25);

    // 'fresh' is cached now and 'ghost' is known to be unknown: no second round trip.
    const second = await t.service.lookup(['fresh', 'ghost']);
    expect(Array.from(second.rows)).toEqual([fresh, -1]);
    expect(t.online.fetches).toHaveLength(1);
    expect(await t.values('mmctr_scorer_item_lookups_total')).toEqual([
      [{ result: 'hit' }, 2],
      [{ result: 'redis' }, 2],
      [{ result: 'unknown' }, 2],
    ]);
  });

  it('marks the lookup failed, with misses unknown, when Redis fails or is not to be asked', async () => {
    const t = setup();
    t.online.failure = new Error('Connection is closed.');
    const failed = await t.service.lookup(['a']);
    expect(failed).toEqual({ rows: Int32Array.from([-1]), failed: true });

    // A failed fetch negative-caches nothing: the next request asks again.
    t.online.failure = null;
    await t.service.lookup(['a']);
    expect(t.online.fetches).toEqual([['a'], ['a']]);

    const local = await t.service.lookup(['b'], false);
    expect(local.failed).toBe(true);
    expect(t.online.fetches).toHaveLength(2);
  });

  it('gives up on Redis after SCORER_REDIS_TIMEOUT_MS, and a late answer still warms the cache', async () => {
    const t = setup();
    let release!: () => void;
    t.online.pending = new Promise<void>((r) => (release = r));
    t.online.known.set('slow', {
      item_id: 'slow',
      attributes: { category: 'c', tags: [] },
      ts_ms: 1,
      vector: null,
    });
    const res = await t.service.lookup(['slow']);
    expect(res).toEqual({ rows: Int32Array.from([-1]), failed: true });

    release();
    await t.online.pending;
    await new Promise((r) => setImmediate(r));
    expect(t.service.cache.row('slow')).toBeGreaterThanOrEqual(0);
  });
});
