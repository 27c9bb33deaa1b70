import type Redis from 'ioredis';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { AggregateWindowReader, type KeyColumns, type ReadStats } from '@mmctr/aggregates';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';

/** The aggregate reads' own Redis connection (null when the layout reads no aggregate). */
export const AGGREGATE_REDIS = Symbol('AGGREGATE_REDIS');

/**
 * The online values of the layout's aggregate windows (ServingLayout.aggregates, same order), read from
 * ingest's bucketed counters: one pipeline per read for every sum not cached, none when all are.
 */
@Injectable()
export class AggregateRepository {
  private readonly reader: AggregateWindowReader | null;

  constructor(
    @Inject(AGGREGATE_REDIS) redis: Redis | null,
    @Inject(SERVING_LAYOUT) layout: ServingLayout,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(SCORER_CONFIG)
    scorer: Pick<ScorerConfig, 'SCORER_AGGREGATE_CACHE_ENTRIES' | 'SCORER_AGGREGATE_ROLL_MAX_VALUES'>,
  ) {
    this.reader =
      redis && layout.aggregates.length
        ? new AggregateWindowReader(redis, layout.repo, layout.aggregates, {
            keyPrefix: config.REDIS_KEY_PREFIX,
            cacheEntries: scorer.SCORER_AGGREGATE_CACHE_ENTRIES,
            rollMaxValues: scorer.SCORER_AGGREGATE_ROLL_MAX_VALUES,
          })
        : null;
  }

  /** Bytes of bucket values the cache keeps to roll windows forward (a walk over every entry). */
  keptBytes(): number {
    return (this.reader?.keptValues() ?? 0) * Float64Array.BYTES_PER_ELEMENT;
  }

  /** Each window's value when the counters cannot be read: a ratio's declared default, else 0. */
  get fallbacks(): number[] {
    return this.reader?.windows.map((w) => w.fallback) ?? [];
  }

  /**
   * `out[i][k]`: layout.aggregates[i] for the k-th key value of its key declaration in `keys`; at once
   * (not a promise) when every sum is cached.
   */
  read(
    keys: ReadonlyMap<string, KeyColumns>,
    tMs: number,
    stats: ReadStats,
  ): Float64Array[] | Promise<Float64Array[]> {
    if (!this.reader) return [];
    return this.reader.read(keys, tMs, Date.now(), stats);
  }
}
