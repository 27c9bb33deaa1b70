// The scorer's item cache load at start, at catalogue sizes (it delays listening, so it counts against the
// startup probe): --items items with attributes and a --dim fused vector each, written to a ClickHouse
// database of the bench's own, then loaded by ItemCacheService's real refresh through
// ItemCatalogRepository (pages of item_id ranges: the page's keys first, its rows by range). Baseline,
// same run and data: the grouped pages it replaced, where each page grouped every row after the cursor
// and kept the first page-size keys. Each size runs --rounds times, alternating. Then the same cache's
// periodic refreshes, each ÷ the first load; then a second cache that reconciles
// (SCORER_ITEM_CACHE_RECONCILE_MS): its first load with the bucket digests first, ÷ the plain first load,
// and its refresh with a reconcile, quiet, then after 100 versions stored behind the watermark in an hour
// that held no rows, then in the catalogue's own hour (which the plain cache misses: checked), each ÷ the
// plain cache's refresh in the same state. The catalogue is ingested two hours back, so that every digest
// covers it. It also prints what the loaded cache holds in memory (heap and array buffers, after a full GC).
//
// Usage: node -r ./scripts/register.js bench/score/item-cache-load.ts [--items 5000,500000] [--dim 128]
//        [--page 20000] [--rounds 2]
import '../../test/setup/load-stack-env.js';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClickHouseService } from '@mmctr/clickhouse';
import { loadFeatureRepo } from '@mmctr/feature-repo';
import { createLogger } from '@mmctr/observability';
import {
  ItemCache,
  ItemCacheService,
  ItemCatalogRepository,
  ScorerMetrics,
  ServingLayout,
  loadScorerConfig,
  type ItemOnlineRepository,
} from '@mmctr/scorer';
import { TestDatabase } from '../../test/support/ingest/test-database';
import { arg, numberArg } from '../support/cli-args';
import { log } from '../support/log';
import { runMainThenExit } from '../support/run-main';

const SIZES = arg('items', '5000,500000').split(',').map(Number);
const DIM = numberArg('dim', 128);
const PAGE = numberArg('page', 20_000);
const ROUNDS = numberArg('rounds', 2);
const REPO = 'feature-repos/demo-aggregates';
/** Heap and array buffers after a full collection: what the process holds. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heldBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The catalogue's ingested_at: mid-hour, two hours back (behind the reconcile's horizon). */
const FILL_S = (Math.floor(Date.now() / 3_600_000) - 2) * 3600 + 1800;

/** `n` items (`item-1000000`, … in key order), 20 categories, and one fused vector each (projection p1). */
async function fill(ch: ClickHouseService, n: number): Promise<void> {
  const id = `concat('item-', toString(1000000 + number))`;
  await ch.command(
    `INSERT INTO items (item_id, ts_ms, category, tags, ingested_at)
     SELECT ${id}, 1000 + number, concat('c', toString(number % 20)), ['t', toString(number % 7)],
            toDateTime(${FILL_S})
     FROM numbers(${n})`,
  );
  await ch.command(
    `INSERT INTO item_embeddings (item_id, content_hash, fused_vec, projection_version, created_ms, created_at)
     SELECT ${id}, 'h', arrayMap(j -> toFloat32(sin(number + j)), range(${DIM})), 'p1', 2000 + number, now()
     FROM numbers(${n})`,
  );
}

/** 100 items of the `n` get a new version, ingested at least a second after the catalogue. */
async function changeSome(ch: ClickHouseService, n: number, round: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await ch.command(
    `INSERT INTO items (item_id, ts_ms, category, tags, ingested_at)
     SELECT concat('item-', toString(1000000 + number * ${Math.max(1, Math.floor(n / 100))})), 10000000 + ${round},
            'changed', ['t'], now()
     FROM numbers(100)`,
  );
}

/**
 * 100 other items (`offset` picks which) get a version `late<round>` ingested at `atS`, stored now: behind
 * any refresh's overlap.
 */
async function storeLate(ch: ClickHouseService, n: number, round: number, offset: number, atS: number) {
  const step = Math.max(1, Math.floor(n / 100));
  const ids = Array.from({ length: 100 }, (_, i) => `item-${1000000 + ((i * step + offset) % n)}`);
  await ch.command(
    `INSERT INTO items (item_id, ts_ms, category, tags, ingested_at)
     SELECT arrayJoin({ids:Array(String)}), 20000000 + ${round}, 'late${round}', ['t'], toDateTime(${atS})`,
    { ids },
  );
  return ids;
}

/** The grouped pages: one query per page, grouping every row after the cursor (the baseline). */
async function groupedLoad(ch: ClickHouseService, layout: ServingLayout): Promise<number> {
  const cache = new ItemCache(layout);
  for (let after = ''; ;) {
    const rows = await ch.query<{ item_id: string; category: string; tags: string[]; t: string }>(
      `SELECT item_id, argMax(category, ts_ms) AS category, argMax(tags, ts_ms) AS tags, max(ts_ms) AS t
       FROM items WHERE item_id > {after:String} AND item_id IN (
         SELECT item_id FROM items WHERE ingested_at >= toDateTime(0))
       GROUP BY item_id ORDER BY item_id LIMIT ${PAGE}`,
      { after },
    );
    for (const r of rows)
      cache.upsertItem({
        item_id: r.item_id,
        attributes: { category: r.category, tags: r.tags },
        ts_ms: Number(r.t),
      });
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.item_id;
  }
  for (let after = ''; ;) {
    const rows = await ch.query<{ item_id: string; v: number[]; c: string }>(
      `SELECT item_id, argMax(fused_vec, created_ms) AS v, max(created_ms) AS c
       FROM item_embeddings WHERE item_id > {after:String} AND notEmpty(fused_vec)
       GROUP BY item_id HAVING c > 0 ORDER BY item_id LIMIT ${PAGE}`,
      { after },
    );
    for (const r of rows) cache.upsertVector(r.item_id, r.v, Number(r.c));
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.item_id;
  }
  return cache.size;
}

/**
 * ItemCacheService's first refresh, as at start: the service (for later refreshes). `reconcileMs` 1: every
 * later refresh reconciles; 0: none does.
 */
async function rangedLoad(
  ch: ClickHouseService,
  layout: ServingLayout,
  reconcileMs: number,
): Promise<ItemCacheService> {
  const config = loadScorerConfig({
    ...process.env,
    SCORER_ITEM_CACHE_PAGE_ROWS: String(PAGE),
    SCORER_PROJECTION_VERSION: 'p1',
    SCORER_ITEM_CACHE_RECONCILE_MS: String(reconcileMs),
  });
  const service = new ItemCacheService(
    config,
    new ItemCatalogRepository(ch, layout),
    null as unknown as ItemOnlineRepository, // misses only: not used by a refresh
    new ScorerMetrics(),
    createLogger('scorer', 'silent'),
    layout,
  );
  await service.refresh();
  if (!service.isLoaded) throw new Error('the item cache refresh failed (see the scorer log)');
  return service;
}

async function timed(load: () => Promise<number>): Promise<{ ms: number; rows: number }> {
  const t0 = performance.now();
  const rows = await load();
  return { ms: performance.now() - t0, rows };
}

async function main(): Promise<void> {
  const layout = new ServingLayout(loadFeatureRepo(REPO));
  const category = layout.aggregateKeyAttributes.findIndex((a) => a.name === 'category');
  if (category < 0) throw new Error(`${REPO} has no category aggregate key to check the late rows by`);
  /** How many of `ids` the cache holds with the late version of `round`. */
  const holds = (s: ItemCacheService, ids: string[], round: number) =>
    ids.filter((id) => s.cache.aggregateKey(category, s.cache.row(id)) === `late${round}`).length;
  console.log(
    `# item cache load (${REPO}, ${DIM}-d vectors, pages of ${PAGE}): ItemCacheService's first refresh vs the grouped pages, ${ROUNDS} rounds`,
  );
  for (const n of SIZES) {
    const db = new TestDatabase();
    try {
      await db.create();
      await db.migrate();
      log(`filling ${n} items`);
      await fill(db.clickhouse, n);
      const ratios: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        let service: ItemCacheService | undefined;
        const before = heldBytes();
        const ranged = await timed(async () => {
          service = await rangedLoad(db.clickhouse, layout, 0);
          return service.cache.size;
        });
        const held = heldBytes() - before;
        console.log(
          `  ${n} items, round ${round}: held by the loaded cache ${(held / 2 ** 20).toFixed(1)} MiB (${(held / n).toFixed(0)} bytes per item; heap and array buffers after a full GC, ÷ items)`,
        );
        // The periodic refresh (SCORER_ITEM_CACHE_REFRESH_MS) of the same cache: the first reads the
        // overlap second once (the whole catalogue, which shares one ingested_at second in round 1);
        // then nothing new; then 100 new versions ingested a second later.
        const refresh = () => timed(async () => (await service!.refresh(), service!.cache.size));
        const overlap = await refresh();
        const idle = await refresh();
        await changeSome(db.clickhouse, n, round);
        const changed = await refresh();
        let reconciling: ItemCacheService | undefined;
        const seeded = await timed(async () => {
          reconciling = await rangedLoad(db.clickhouse, layout, 1);
          return reconciling.cache.size;
        });
        const reconcile = () => timed(async () => (await reconciling!.refresh(), reconciling!.cache.size));
        await reconcile(); // the overlap once
        await refresh();
        const plainQuiet = await refresh();
        const quiet = await reconcile();
        const lateRun = async (offset: number, atS: number) => {
          const ids = await storeLate(db.clickhouse, n, round, offset, atS);
          const plain = await refresh();
          const reconciled = await reconcile();
          const without = holds(service!, ids, round);
          const held = holds(reconciling!, ids, round);
          if (without !== 0 || held !== ids.length)
            throw new Error(
              `late versions held: ${without} without the reconcile (0 expected), ${held} of 100 with it`,
            );
          return { plain, reconciled };
        };
        const emptyHour = await lateRun(1, FILL_S - 3600);
        const bulkHour = await lateRun(2, FILL_S - 60);
        const grouped = await timed(() => groupedLoad(db.clickhouse, layout));
        if (ranged.rows !== n || grouped.rows !== n)
          throw new Error(`loaded ${ranged.rows} and ${grouped.rows} rows of ${n}`);
        ratios.push(grouped.ms / ranged.ms);
        const ratio = (r: { ms: number }) => `${r.ms.toFixed(0)} (${(r.ms / ranged.ms).toFixed(3)})`;
        console.log(
          `  ${n} items, round ${round}: periodic refreshes, ms (÷ first load): the overlap once ${ratio(overlap)}; nothing new ${ratio(idle)}; 100 new versions ${ratio(changed)}`,
        );
        const over = (r: { ms: number }, base: { ms: number }) =>
          `${r.ms.toFixed(0)} ms (÷ ${base.ms.toFixed(0)}: ${(r.ms / base.ms).toFixed(2)})`;
        console.log(
          `  ${n} items, round ${round}: reconcile: first load with digests ${over(seeded, ranged)}; refresh + reconcile, quiet ${over(quiet, plainQuiet)}; 100 versions stored late, into an hour with no rows ${over(emptyHour.reconciled, emptyHour.plain)}, into the catalogue's hour ${over(bulkHour.reconciled, bulkHour.plain)} (held: 100 each, without the reconcile 0)`,
        );
        console.log(
          `  ${n} items, round ${round}: ranged pages ${ranged.ms.toFixed(0)} ms (${((1000 * n) / ranged.ms).toFixed(0)} items/s); grouped pages ${grouped.ms.toFixed(0)} ms; grouped ÷ ranged ${(grouped.ms / ranged.ms).toFixed(2)}; load ${loadavg()[0]!.toFixed(1)}`,
        );
      }
    } finally {
      await db.drop();
    }
  }
}

runMainThenExit(main);
