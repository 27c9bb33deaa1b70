import { Inject, Injectable } from '@nestjs/common';
import type { ReadStats } from '@mmctr/aggregates';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import type { ItemCache } from '../items/item-cache';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServedAggregate, ServingLayout } from '../layout/serving-layout';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { withTimeout } from '../with-timeout';
import { AggregateRepository } from './aggregate.repository';

/** What the aggregate read needs of a request: its time, requester and candidates (with cache rows). */
export interface AggregateRequest {
  readonly tsMs: number;
  readonly userId: string;
  readonly candidateIds: readonly string[];
  readonly candidateRows: Int32Array;
}

export interface AggregateValues {
  /** Per layout.aggregates: one raw value (user side) or one per candidate. */
  readonly values: readonly Float64Array[];
  /** The counters could not be read in time: every value is its declared fallback. */
  readonly failed: boolean;
}

/**
 * The raw values of the layout's aggregate windows for one request, as of its time: key values built
 * as ingest writes them (the requester's key, the candidate's key, the candidate's attribute from the
 * item cache), read within SCORER_REDIS_TIMEOUT_MS; past it, or on a Redis error, every window reads its
 * declared fallback (a ratio's default, else 0) and the answer is degraded. A read that finishes late
 * still fills the repository's cache.
 */
@Injectable()
export class AggregateReadsService {
  readonly active: boolean;
  private readonly fallbacks: number[];
  /** The key declarations per side, each with how its key elements are read. */
  private readonly specs: { spec: string; side: 'user' | 'candidate'; key: ServedAggregate['key'] }[] = [];

  constructor(
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
    @Inject(AggregateRepository) private readonly repository: AggregateRepository,
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    @Inject(ScorerMetrics) private readonly metrics: ScorerMetrics,
  ) {
    this.active = layout.aggregates.length > 0;
    this.fallbacks = repository.fallbacks;
    for (const a of layout.aggregates)
      if (!this.specs.some((s) => s.spec === a.spec))
        this.specs.push({ spec: a.spec, side: a.side, key: a.key });
  }

  /** Each window's fallback value: for requests not read (and for a failed read). */
  fallback(candidates: number): Float64Array[] {
    return this.layout.aggregates.map((a, i) =>
      new Float64Array(a.side === 'user' ? 1 : candidates).fill(this.fallbacks[i] ?? 0),
    );
  }

  async read(req: AggregateRequest, cache: ItemCache): Promise<AggregateValues> {
    const stats: ReadStats = { cached: 0, read: 0, calls: 0 };
    try {
      const values = await withTimeout(
        this.repository.read(this.keys(req, cache), req.tsMs, stats),
        this.config.SCORER_REDIS_TIMEOUT_MS,
        'aggregates',
      );
      return { values, failed: false };
    } catch {
      return { values: this.fallback(req.candidateIds.length), failed: true };
    } finally {
      this.metrics.aggregateSums.inc({ source: 'cache' }, stats.cached);
      this.metrics.aggregateSums.inc({ source: 'redis' }, stats.read);
    }
  }

  /** Each key declaration's key values: one for the user side, one per candidate for the candidate side. */
  keys(req: AggregateRequest, cache: ItemCache): Map<string, string[][]> {
    const out = new Map<string, string[][]>();
    for (const { spec, side, key } of this.specs) {
      const n = side === 'user' ? 1 : req.candidateIds.length;
      const values: string[][] = new Array<string[]>(n);
      for (let b = 0; b < n; b++)
        values[b] = key.map((p) =>
          p.from === 'requester'
            ? req.userId
            : p.from === 'candidate'
              ? req.candidateIds[b]!
              : cache.aggregateKey(p.index, req.candidateRows[b]!),
        );
      out.set(spec, values);
    }
    return out;
  }
}
