import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import type { ItemCache } from '../items/item-cache';
import { ItemCacheService } from '../items/item-cache.service';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { AggregateReadsService } from './aggregate-reads.service';
import { ScoredItemsRepository } from './scored-items.repository';

/** Items per warm-up read: a request's worth, so no one script call grows past what requests send. */
const WARM_CHUNK = 500;

/**
 * The item cache rows to warm, at most `n`: the rows of `first` (ids, in order; ids not cached and
 * repeats are skipped), then the cache's rows in order. Returns the rows and how many came from `first`.
 */
export function warmOrder(
  cache: ItemCache,
  n: number,
  first: readonly string[] = [],
): { rows: Int32Array; fromFirst: number } {
  const size = Math.min(n, cache.size);
  const rows = new Int32Array(size);
  const taken = new Set<number>();
  let k = 0;
  for (const id of first) {
    if (k === size) break;
    const r = cache.row(id);
    if (r < 0 || taken.has(r)) continue;
    taken.add(r);
    rows[k++] = r;
  }
  const fromFirst = k;
  for (let r = 0; k < size; r++) if (!taken.has(r)) rows[k++] = r;
  return { rows, fromFirst };
}

/**
 * Warms the candidate-keyed windows of the item cache's `rows`, a request's worth of items per read,
 * each as of its own start; no read starts at or after `deadlineMs` (epoch ms). Returns the items
 * warmed (the chunks read in full), how many sums were read from Redis, and the error that stopped it.
 */
export async function warmCachedItems(
  reads: AggregateReadsService,
  cache: ItemCache,
  rows: Int32Array,
  deadlineMs = Infinity,
): Promise<{ items: number; sums: number; error?: Error }> {
  let sums = 0;
  let from = 0;
  try {
    for (; from < rows.length && Date.now() < deadlineMs; from += WARM_CHUNK) {
      sums += await reads.warm(cache, rows.subarray(from, from + WARM_CHUNK), Date.now());
    }
  } catch (err) {
    return { items: from, sums, error: err as Error };
  }
  return { items: Math.min(from, rows.length), sums };
}

/**
 * Before the scorer serves, reads the windows keyed by the candidate alone for up to
 * SCORER_AGGREGATE_WARM_ITEMS items of the item cache, so that the first requests after a start find
 * them cached instead of reading every bucket cold. The items scored most often in the last
 * SCORER_AGGREGATE_WARM_LOOKBACK_MIN minutes (the score log) come first, so a catalogue larger than the
 * bound warms what traffic asks for; the item cache's order fills the rest. Windows with a requester
 * part wait for requests. A failed read, or SCORER_AGGREGATE_WARM_MAX_MS spent (it delays listening,
 * so it bounds the start, ranking included), ends the warm-up with a warning; serving starts either way.
 */
@Injectable()
export class AggregateWarmupService implements OnApplicationBootstrap {
  constructor(
    private readonly reads: AggregateReadsService,
    private readonly items: ItemCacheService,
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly scored: ScoredItemsRepository,
    private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const limit = this.config.SCORER_AGGREGATE_WARM_ITEMS;
    if (limit === 0 || !this.reads.warmable) return;
    if (!this.items.isLoaded) await this.items.refresh();
    const cache = this.items.cache;
    const n = Math.min(limit, cache.size);
    // An empty item cache (SCORER_ITEM_CACHE_SOURCE=none, as the score-log sink runs): nothing to warm.
    if (n === 0) return;
    const started = Date.now();
    const deadline = started + this.config.SCORER_AGGREGATE_WARM_MAX_MS;
    const { rows, fromFirst } = warmOrder(cache, n, await this.mostScored(n, deadline));
    const { items, sums, error } = await warmCachedItems(this.reads, cache, rows, deadline);
    const ms = Date.now() - started;
    const log = { items, scored: Math.min(items, fromFirst), sums, ms };
    if (error)
      this.logger.warn(
        { ...log, of: n, err: error.message },
        'aggregate warm-up stopped; the first requests read the rest',
      );
    else if (items === n) this.logger.info(log, 'aggregate windows warmed');
    else
      this.logger.warn(
        { ...log, of: n },
        'aggregate warm-up reached SCORER_AGGREGATE_WARM_MAX_MS; the first requests read the rest',
      );
    this.metrics.aggregateWarmupItems.set({ picked: 'scored' }, log.scored);
    this.metrics.aggregateWarmupItems.set({ picked: 'cache' }, items - log.scored);
    this.metrics.aggregateWarmupSeconds.set(ms / 1000);
  }

  /** The most scored item ids of the lookback, at most `n`; none when off, and none (with a warning) when the read fails. */
  private async mostScored(n: number, deadlineMs: number): Promise<string[]> {
    const minutes = this.config.SCORER_AGGREGATE_WARM_LOOKBACK_MIN;
    if (minutes === 0) return [];
    const now = Date.now();
    try {
      const rows = await this.scored.mostScored(Math.floor(now / 1000) - minutes * 60, n, deadlineMs - now);
      return rows.map((r) => r.item_id);
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        'aggregate warm-up could not rank items by the score log; it takes them in item cache order',
      );
      return [];
    }
  }
}
