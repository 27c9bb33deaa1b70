import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { PageEnd } from '@mmctr/clickhouse';
import type { Logger } from 'pino';
import type { RawValue } from '@mmctr/features';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { withTimeout } from '../with-timeout';
import { ItemCache } from './item-cache';
import { BucketReconcile } from './bucket-reconcile';
import {
  ItemCatalogRepository,
  type BucketDigest,
  type CatalogRow,
  type VectorRow,
} from './item-catalog.repository';
import { ItemOnlineRepository, type OnlineItem } from './item-online.repository';
import { WatermarkOverlap } from './watermark-overlap';

/** An attribute value worth caching: not absent, not empty. */
const isPresent = (v: RawValue): boolean =>
  v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);

export interface ItemLookup {
  /** Cache row per requested id, -1 where the item is unknown (OOV). */
  rows: Int32Array;
  /** True when the Redis miss fetch failed or timed out: some items may be wrongly OOV. */
  failed: boolean;
}

/**
 * Reads every page: the page's key range first (`page`), then its rows by range (`rows`), each row
 * handed to `apply`. Returns the rows read.
 */
async function readPages<T>(
  page: (after: string) => Promise<PageEnd | undefined>,
  rows: (after: string, last: string) => Promise<T[]>,
  apply: (row: T) => void,
): Promise<number> {
  let n = 0;
  for (let after = ''; ;) {
    const end = await page(after);
    if (end === undefined) return n;
    const got = await rows(after, end.last);
    got.forEach(apply);
    n += got.length;
    if (!end.full) return n;
    after = end.last;
  }
}

/**
 * Owns the columnar item cache: loads it from ClickHouse at start, refreshes it incrementally, and
 * fills misses from Redis (one round trip per request, negative-cached so unknown ids don't repeat it).
 */
@Injectable()
export class ItemCacheService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly cache: ItemCache;
  private loaded = false;
  private itemsSinceS = 0;
  /** ingested_at has one-second resolution: the items' span is in whole seconds, at least one. */
  private readonly itemsOverlap: WatermarkOverlap;
  private readonly vectorsOverlap: WatermarkOverlap;
  private vectorsSinceMs = 0;
  private readonly itemsReconcile: BucketReconcile;
  private readonly vectorsReconcile: BucketReconcile;
  private reconcileAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly unknownUntil = new Map<string, number>();

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly catalog: ItemCatalogRepository,
    private readonly online: ItemOnlineRepository,
    private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
  ) {
    this.cache = new ItemCache(layout);
    this.itemsOverlap = new WatermarkOverlap(Math.ceil(config.SCORER_ITEM_CACHE_OVERLAP_MS / 1000));
    this.vectorsOverlap = new WatermarkOverlap(config.SCORER_ITEM_CACHE_OVERLAP_MS);
    const bucketS = config.SCORER_ITEM_CACHE_RECONCILE_BUCKET_S;
    this.itemsReconcile = new BucketReconcile(bucketS);
    this.vectorsReconcile = new BucketReconcile(bucketS * 1000);
  }

  get isLoaded(): boolean {
    return this.loaded || this.config.SCORER_ITEM_CACHE_SOURCE === 'none';
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.SCORER_ITEM_CACHE_SOURCE === 'none') return;
    // A failed first load leaves the cache empty (Redis fills misses); the timer retries.
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.config.SCORER_ITEM_CACHE_REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Loads what changed since the last refresh (everything the first time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const started = Date.now();
    const reconciling = this.config.SCORER_ITEM_CACHE_RECONCILE_MS > 0;
    try {
      // Every bucket's digest before the first load reads it all: where the reconcile starts from.
      const seeds = !this.loaded && reconciling ? await this.bucketDigests() : undefined;
      // Each watermark with an overlap (WatermarkOverlap): upserts are idempotent, and a catalogue
      // loaded in bulk, which can share the watermark's second, is not read again while unchanged.
      let maxS = this.itemsSinceS;
      const items = await this.itemsOverlap.readFrom(
        this.itemsSinceS,
        (from, to) => this.catalog.itemsIngested(from, to),
        (fromS) => this.readItems(fromS, undefined, (r) => (maxS = Math.max(maxS, r.ingested_s))),
      );
      let maxMs = this.vectorsSinceMs;
      const pv = this.config.SCORER_PROJECTION_VERSION;
      const vectors = await this.vectorsOverlap.readFrom(
        this.vectorsSinceMs,
        (from, to) => this.catalog.vectorsCreated(from, to, pv),
        (fromMs) => this.readVectors(fromMs, undefined, (r) => (maxMs = Math.max(maxMs, r.created_ms))),
      );
      this.itemsSinceS = maxS;
      this.vectorsSinceMs = maxMs;
      if (seeds) {
        this.itemsReconcile.seed(seeds.items);
        this.vectorsReconcile.seed(seeds.vectors);
        this.reconcileAt = Date.now() + this.config.SCORER_ITEM_CACHE_RECONCILE_MS;
      }
      if (!this.loaded) this.noteEmptyEntityEmbedding(vectors);
      this.loaded = true;
      this.metrics.itemCacheRows.set(this.cache.size);
      this.metrics.itemCacheRefreshes.inc({ result: 'ok' });
      if (items + vectors > 0) {
        this.logger.info(
          { items, vectors, rows: this.cache.size, ms: Date.now() - started },
          'item cache refreshed',
        );
      }
    } catch (err) {
      this.metrics.itemCacheRefreshes.inc({ result: 'failed' });
      this.logger.warn({ err: (err as Error).message }, 'item cache refresh failed; serving the cached rows');
    }
    if (this.loaded && reconciling && Date.now() >= this.reconcileAt) await this.reconcile();
  }

  /** Upserts the items with a row ingested from `fromS` (to before `untilS`), page by page; the rows read. */
  private readItems(
    fromS: number,
    untilS: number | undefined,
    seen?: (r: CatalogRow) => void,
  ): Promise<number> {
    const page = this.config.SCORER_ITEM_CACHE_PAGE_ROWS;
    return readPages(
      (after) => this.catalog.itemPage(after, fromS, page, untilS),
      (after, last) => this.catalog.items(after, last, fromS, untilS),
      (r) => {
        this.cache.upsertItem(r);
        seen?.(r);
      },
    );
  }

  /** Upserts the vectors created from `fromMs` (to before `untilMs`), page by page; the rows read. */
  private readVectors(
    fromMs: number,
    untilMs: number | undefined,
    seen?: (r: VectorRow) => void,
  ): Promise<number> {
    const page = this.config.SCORER_ITEM_CACHE_PAGE_ROWS;
    const pv = this.config.SCORER_PROJECTION_VERSION;
    const afterMs = Math.max(0, fromMs - 1); // the vector reads take created_ms after a value
    return readPages(
      (after) => this.catalog.vectorPage(after, afterMs, pv, page, untilMs),
      (after, last) => this.catalog.vectors(after, last, afterMs, pv, untilMs),
      (r) => {
        this.cache.upsertVector(r.item_id, r.fused_vec, r.created_ms);
        seen?.(r);
      },
    );
  }

  private bucketDigests(): Promise<{ items: BucketDigest[]; vectors: BucketDigest[] }> {
    const widthS = this.config.SCORER_ITEM_CACHE_RECONCILE_BUCKET_S;
    const pv = this.config.SCORER_PROJECTION_VERSION;
    return Promise.all([
      this.catalog.itemBuckets(widthS),
      this.catalog.vectorBuckets(widthS * 1000, pv),
    ]).then(([items, vectors]) => ({ items, vectors }));
  }

  /**
   * Reads again the buckets of rows behind the overlaps whose digest changed (BucketReconcile). Only
   * upserts: a bucket read again never moves a watermark. The horizon is the scorer's clock less the
   * overlap, so a bucket is compared once its rows can only come late, even when ingestion stalls.
   */
  private async reconcile(): Promise<void> {
    const started = Date.now();
    this.reconcileAt = started + this.config.SCORER_ITEM_CACHE_RECONCILE_MS;
    const widthS = this.config.SCORER_ITEM_CACHE_RECONCILE_BUCKET_S;
    const pv = this.config.SCORER_PROJECTION_VERSION;
    const horizonMs = started - this.config.SCORER_ITEM_CACHE_OVERLAP_MS;
    let rows = 0;
    try {
      const items = await this.itemsReconcile.reconcile(
        Math.floor(horizonMs / 1000),
        (beforeS) => this.catalog.itemBuckets(widthS, beforeS),
        async (fromS, untilS) => (rows += await this.readItems(fromS, untilS)),
      );
      const vectors = await this.vectorsReconcile.reconcile(
        horizonMs,
        (beforeMs) => this.catalog.vectorBuckets(widthS * 1000, pv, beforeMs),
        async (fromMs, untilMs) => (rows += await this.readVectors(fromMs, untilMs)),
      );
      this.metrics.itemCacheReconciles.inc({ result: 'ok' });
      if (items) this.metrics.itemCacheRereadBuckets.inc({ kind: 'items' }, items);
      if (vectors) this.metrics.itemCacheRereadBuckets.inc({ kind: 'vectors' }, vectors);
      this.metrics.itemCacheRows.set(this.cache.size);
      if (items + vectors > 0) {
        this.logger.info(
          { buckets: { items, vectors }, rows, ms: Date.now() - started },
          'item cache reconciled: buckets changed behind the overlap were read again',
        );
      }
    } catch (err) {
      this.metrics.itemCacheReconciles.inc({ result: 'failed' });
      this.logger.warn(
        { err: (err as Error).message },
        'item cache reconcile failed; retried at the next interval',
      );
    }
  }

  /** An entity embedding nothing has embedded (the embedder computes no job for it, or has not run). */
  private noteEmptyEntityEmbedding(vectors: number): void {
    const e = this.layout.embedding;
    if (e?.store !== 'entity' || vectors > 0) return;
    this.logger.warn(
      { embeddings: [e.name], entity: this.layout.candidateEntity },
      'no vectors are stored for these embeddings; their slots read zeros',
    );
  }

  private applyFetched(missing: readonly string[], found: (OnlineItem | null)[], now: number): void {
    found.forEach((item, i) => {
      if (!item) {
        if (this.unknownUntil.size > 100_000) this.unknownUntil.clear();
        this.unknownUntil.set(missing[i]!, now + this.config.SCORER_NEGATIVE_CACHE_MS);
        return;
      }
      this.unknownUntil.delete(item.item_id);
      if (item.ts_ms > 0 || Object.values(item.attributes).some(isPresent)) this.cache.upsertItem(item);
      if (item.vector) this.cache.upsertVector(item.item_id, item.vector, item.ts_ms);
      else if (this.cache.row(item.item_id) < 0) this.cache.upsertItem(item);
    });
    this.metrics.itemCacheRows.set(this.cache.size);
  }

  /**
   * Cache rows of `ids` (duplicates allowed), fetching misses from Redis in one round trip; with
   * `remote` false (Redis just failed this request) misses stay unknown and the lookup counts as failed.
   */
  async lookup(ids: readonly string[], remote = true): Promise<ItemLookup> {
    const rows = new Int32Array(ids.length);
    const now = Date.now();
    const missing: string[] = [];
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      const r = this.cache.row(id);
      rows[i] = r;
      if (r >= 0 || seen.has(id)) return;
      seen.add(id);
      const until = this.unknownUntil.get(id);
      if (until === undefined || until <= now) missing.push(id);
    });
    let failed = false;
    if (missing.length > 0 && !remote) failed = true;
    else if (missing.length > 0) {
      try {
        // Results are applied even when they arrive after the timeout: a slow cold fetch still warms the cache.
        const fetching = this.online.fetch(missing).then((found) => this.applyFetched(missing, found, now));
        fetching.catch(() => undefined);
        await withTimeout(fetching, this.config.SCORER_REDIS_TIMEOUT_MS, 'redis item fetch');
      } catch {
        failed = true;
      }
      ids.forEach((id, i) => {
        if (rows[i]! < 0) rows[i] = this.cache.row(id);
      });
    }
    let hits = 0;
    let fetched = 0;
    let unknown = 0;
    ids.forEach((id, i) => {
      if (rows[i]! < 0) unknown++;
      else if (seen.has(id)) fetched++;
      else hits++;
    });
    if (hits) this.metrics.itemLookups.inc({ result: 'hit' }, hits);
    if (fetched) this.metrics.itemLookups.inc({ result: 'redis' }, fetched);
    if (unknown) this.metrics.itemLookups.inc({ result: 'unknown' }, unknown);
    return { rows, failed };
  }
}
