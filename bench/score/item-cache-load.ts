// The scorer's item cache load at start, at catalogue sizes (it delays listening, so it counts against the
// startup probe): --items items with attributes and a --dim fused vector each, written to a ClickHouse
// database of the bench's own, then loaded by ItemCacheService's real refresh through
// ItemCatalogRepository (pages of item_id ranges: the page's keys first, its rows by range). Baseline,
// same run and data: the grouped pages it replaced, where each page grouped every row after the cursor
// and kept the first page-size keys. Each size runs --rounds times, alternating. Then the same cache's
// periodic refreshes, each ÷ the first load.
//
// Usage: node -r ./scripts/register.js bench/score/item-cache-load.ts [--items 5000,500000] [--dim 128]
//        [--page 20000] [--rounds 2]
import '../../test/setup/load-stack-env.js';
import { loadavg } from 'node:os';
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

/** `n` items (`item-1000000`, … in key order), 20 categories, and one fused vector each (projection p1). */
async function fill(ch: ClickHouseService, n: number): Promise<void> {
  const id = `concat('item-', toString(1000000 + number))`;
  await ch.command(
    `INSERT INTO items (item_id, ts_ms, category, tags, ingested_at)
     SELECT ${id}, 1000 + number, concat('c', toString(number % 20)), ['t', toString(number % 7)], now()
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

/** ItemCacheService's first refresh, as at start: the service (for later refreshes). */
async function rangedLoad(ch: ClickHouseService, layout: ServingLayout): Promise<ItemCacheService> {
  const config = loadScorerConfig({
    ...process.env,
    SCORER_ITEM_CACHE_PAGE_ROWS: String(PAGE),
    SCORER_PROJECTION_VERSION: 'p1',
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
        const ranged = await timed(async () => {
          service = await rangedLoad(db.clickhouse, layout);
          return service.cache.size;
        });
        // The periodic refresh (SCORER_ITEM_CACHE_REFRESH_MS) of the same cache: the first reads the
        // overlap second once (the whole catalogue, which shares one ingested_at second in round 1);
        // then nothing new; then 100 new versions ingested a second later.
        const refresh = () => timed(async () => (await service!.refresh(), service!.cache.size));
        const overlap = await refresh();
        const idle = await refresh();
        await changeSome(db.clickhouse, n, round);
        const changed = await refresh();
        const grouped = await timed(() => groupedLoad(db.clickhouse, layout));
        if (ranged.rows !== n || grouped.rows !== n)
          throw new Error(`loaded ${ranged.rows} and ${grouped.rows} rows of ${n}`);
        ratios.push(grouped.ms / ranged.ms);
        const ratio = (r: { ms: number }) => `${r.ms.toFixed(0)} (${(r.ms / ranged.ms).toFixed(3)})`;
        console.log(
          `  ${n} items, round ${round}: periodic refreshes, ms (÷ first load): the overlap once ${ratio(overlap)}; nothing new ${ratio(idle)}; 100 new versions ${ratio(changed)}`,
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
