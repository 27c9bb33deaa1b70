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
 * read, each as of its own start. Returns how many sums were read from Redis.
 */
export async function warmCachedItems(
  reads: AggregateReadsService,
  cache: ItemCache,
  n: number,
): Promise<number> {
  let sums = 0;
  for (let from = 0; from < n; from += WARM_CHUNK) {
    const rows = Int32Array.from({ length: Math.min(WARM_CHUNK, n - from) }, (_, i) => from + i);
    sums += await reads.warm(cache, rows, Date.now());
  }
  return sums;
}

/**
 * Before the scorer serves, reads the windows keyed by the candidate alone for the first
 * SCORER_AGGREGATE_WARM_ITEMS items of the item cache, so that the first requests after a start find
 * them cached instead of reading every bucket cold. Windows with a requester part wait for requests.
 * A failed read ends the warm-up with a warning; serving starts either way.
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
    const started = Date.now();
    try {
      const sums = await warmCachedItems(this.reads, cache, n);
      this.logger.info({ items: n, sums, ms: Date.now() - started }, 'aggregate windows warmed');
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message, ms: Date.now() - started },
        'aggregate warm-up stopped; the first requests read the rest',
      );
    }
  }
}
