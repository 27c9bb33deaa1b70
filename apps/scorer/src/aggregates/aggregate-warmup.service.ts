import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import type { ItemCache } from '../items/item-cache';
import { ItemCacheService } from '../items/item-cache.service';
import { LOGGER } from '../logger';
import { AggregateReadsService } from './aggregate-reads.service';

/** Items per warm-up read: a request's worth, so no one script call grows past what requests send. */
const WARM_CHUNK = 500;

/**
 * Warms the candidate-keyed windows of the item cache's first `n` items, a request's worth of items per
 * read, each as of its own start; no read starts at or after `deadlineMs` (epoch ms). Returns the items
 * warmed and how many sums were read from Redis.
 */
export async function warmCachedItems(
  reads: AggregateReadsService,
  cache: ItemCache,
  n: number,
  deadlineMs = Infinity,
): Promise<{ items: number; sums: number }> {
  let sums = 0;
  let from = 0;
  for (; from < n && Date.now() < deadlineMs; from += WARM_CHUNK) {
    const rows = Int32Array.from({ length: Math.min(WARM_CHUNK, n - from) }, (_, i) => from + i);
    sums += await reads.warm(cache, rows, Date.now());
  }
  return { items: Math.min(from, n), sums };
}

/**
 * Before the scorer serves, reads the windows keyed by the candidate alone for the first
 * SCORER_AGGREGATE_WARM_ITEMS items of the item cache, so that the first requests after a start find
 * them cached instead of reading every bucket cold. Windows with a requester part wait for requests.
 * A failed read, or SCORER_AGGREGATE_WARM_MAX_MS spent (it delays listening, so it bounds the start),
 * ends the warm-up with a warning; serving starts either way.
 */
@Injectable()
export class AggregateWarmupService implements OnApplicationBootstrap {
  constructor(
    private readonly reads: AggregateReadsService,
    private readonly items: ItemCacheService,
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
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
    try {
      const { items, sums } = await warmCachedItems(this.reads, cache, n, deadline);
      const ms = Date.now() - started;
      if (items === n) this.logger.info({ items, sums, ms }, 'aggregate windows warmed');
      else
        this.logger.warn(
          { items, of: n, sums, ms },
          'aggregate warm-up reached SCORER_AGGREGATE_WARM_MAX_MS; the first requests read the rest',
        );
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message, ms: Date.now() - started },
        'aggregate warm-up stopped; the first requests read the rest',
      );
    }
  }
}
