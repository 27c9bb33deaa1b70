import { Inject, Injectable } from '@nestjs/common';
import type { KeyColumns, ReadStats } from '@mmctr/aggregates';
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

interface KeySpec {
  spec: string;
  side: 'user' | 'candidate';
  key: ServedAggregate['key'];
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
  private readonly specs: KeySpec[] = [];
  /** Those keyed by the candidate alone: their values do not depend on who asks. */
  private readonly candidateOnly: KeySpec[];

  constructor(
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
    private readonly repository: AggregateRepository,
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly metrics: ScorerMetrics,
  ) {
    this.active = layout.aggregates.length > 0;
    this.fallbacks = repository.fallbacks;
    metrics.watchAggregateCache(() => repository.keptBytes());
    for (const a of layout.aggregates)
      if (!this.specs.some((s) => s.spec === a.spec))
        this.specs.push({ spec: a.spec, side: a.side, key: a.key });
    this.candidateOnly = this.specs.filter(
      (s) => s.side === 'candidate' && s.key.every((p) => p.from !== 'requester'),
    );
  }

  /** Whether warm() has anything to read: a window keyed by the candidate alone. */
  get warmable(): boolean {
    return this.candidateOnly.length > 0;
  }

  /**
   * Reads, as of `tMs`, the windows keyed by the candidate alone for the item cache's `rows`, filling
   * the repository's cache (no time budget): what a restart's first requests would otherwise read cold.
   * Returns how many sums were read from Redis.
   */
  async warm(cache: ItemCache, rows: Int32Array, tMs: number): Promise<number> {
    const candidateIds = Array.from(rows, (r) => cache.itemId(r));
    const req: AggregateRequest = { tsMs: tMs, userId: '', candidateIds, candidateRows: rows };
    const stats: ReadStats = { cached: 0, read: 0, calls: 0 };
    // Not counted in mmctr_scorer_aggregate_sums_total: no request used these sums.
    await this.repository.read(this.keys(req, cache, this.candidateOnly), tMs, stats);
    return stats.read;
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
      const read = this.repository.read(this.keys(req, cache), req.tsMs, stats);
      // Every sum cached: no Redis call to bound.
      const values = Array.isArray(read)
        ? read
        : await withTimeout(read, this.config.SCORER_REDIS_TIMEOUT_MS, 'aggregates');
      return { values, failed: false };
    } catch {
      return { values: this.fallback(req.candidateIds.length), failed: true };
    } finally {
      this.metrics.aggregateSums.inc({ source: 'cache' }, stats.cached);
      this.metrics.aggregateSums.inc({ source: 'redis' }, stats.read);
    }
  }

  /**
   * Each key declaration's key values, by key part: the requester's id once, the candidates' ids as
   * they came, a candidate attribute as one text per candidate (one for the user side, one per
   * candidate for the candidate side).
   */
  keys(req: AggregateRequest, cache: ItemCache, specs = this.specs): Map<string, KeyColumns> {
    const out = new Map<string, KeyColumns>();
    for (const { spec, side, key } of specs) {
      const n = side === 'user' ? 1 : req.candidateIds.length;
      const parts = key.map((p) => {
        if (p.from === 'requester') return req.userId;
        if (p.from === 'candidate') return req.candidateIds;
        const texts = new Array<string>(n);
        for (let b = 0; b < n; b++) texts[b] = cache.aggregateKey(p.index, req.candidateRows[b]!);
        return texts;
      });
      out.set(spec, { count: n, parts });
    }
    return out;
  }
}
