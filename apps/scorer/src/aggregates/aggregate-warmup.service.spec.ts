import type { Logger } from 'pino';
import type { ScorerConfig } from '../config/scorer-config';
import type { ItemCache } from '../items/item-cache';
import type { ItemCacheService } from '../items/item-cache.service';
import type { ScorerMetrics } from '../metrics/scorer-metrics';
import type { AggregateReadsService } from './aggregate-reads.service';
import { AggregateWarmupService, warmOrder } from './aggregate-warmup.service';
import type { ScoredItem, ScoredItemsRepository } from './scored-items.repository';

/** A cache of `size` items `i0`, `i1`, … at rows 0, 1, …. */
function fakeCache(size: number): ItemCache {
  const row = (id: string): number => {
    const r = /^i(\d+)$/.exec(id) ? Number(id.slice(1)) : -1;
    return r < size ? r : -1;
  };
  return { size, row } as unknown as ItemCache;
}

interface Options {
  items: number;
  limit: number;
  warmable?: boolean;
  failAt?: number;
  /** Milliseconds each read takes (on a clock of the test's own). */
  readMs?: number;
  maxMs?: number;
  lookbackMin?: number;
  /** What the score log ranks first; an Error: the ranking read fails. */
  scored?: ScoredItem[] | Error;
}

function setup(opts: Options) {
  const calls: number[][] = [];
  let clock = 1_000_000;
  jest.spyOn(Date, 'now').mockImplementation(() => clock);
  const reads = {
    warmable: opts.warmable ?? true,
    warm: jest.fn(async (_cache: ItemCache, rows: Int32Array) => {
      if (calls.length === opts.failAt) throw new Error('redis down');
      calls.push(Array.from(rows));
      clock += opts.readMs ?? 0;
      return rows.length * 3;
    }),
  };
  const scored = {
    mostScored: jest.fn(async () => {
      if (opts.scored instanceof Error) throw opts.scored;
      return opts.scored ?? [];
    }),
  };
  const items = { isLoaded: true, refresh: jest.fn(), cache: fakeCache(opts.items) };
  const logger = { info: jest.fn(), warn: jest.fn() };
  const gauges = { items: new Map<string, number>(), seconds: NaN };
  const metrics = {
    aggregateWarmupItems: { set: (l: { picked: string }, v: number) => gauges.items.set(l.picked, v) },
    aggregateWarmupSeconds: { set: (v: number) => (gauges.seconds = v) },
  };
  const service = new AggregateWarmupService(
    reads as unknown as AggregateReadsService,
    items as unknown as ItemCacheService,
    {
      SCORER_AGGREGATE_WARM_ITEMS: opts.limit,
      SCORER_AGGREGATE_WARM_MAX_MS: opts.maxMs ?? 20_000,
      SCORER_AGGREGATE_WARM_LOOKBACK_MIN: opts.lookbackMin ?? 60,
    } as ScorerConfig,
    scored as unknown as ScoredItemsRepository,
    metrics as unknown as ScorerMetrics,
    logger as unknown as Logger,
  );
  return { service, calls, logger, scored, gauges };
}

const ranked = (...ids: string[]): ScoredItem[] => ids.map((item_id, i) => ({ item_id, n: 100 - i }));

describe('warmOrder', () => {
  it('takes the ranked ids first, skipping ids not cached and repeats, then the cache order for the rest', () => {
    const { rows, fromFirst } = warmOrder(fakeCache(6), 5, ['i4', 'gone', 'i1', 'i4', 'i9']);
    expect(Array.from(rows)).toEqual([4, 1, 0, 2, 3]);
    expect(fromFirst).toBe(2);
  });

  it('stops at n, and at the cache size', () => {
    expect(Array.from(warmOrder(fakeCache(6), 2, ['i5', 'i3', 'i1']).rows)).toEqual([5, 3]);
    expect(Array.from(warmOrder(fakeCache(3), 10).rows)).toEqual([0, 1, 2]);
  });
});

describe('AggregateWarmupService', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reads up to SCORER_AGGREGATE_WARM_ITEMS cached items in request-sized chunks, in cache order when nothing was scored', async () => {
    const t = setup({ items: 5_000, limit: 1_200 });
    await t.service.onApplicationBootstrap();
    expect(t.calls.map((rows) => [rows[0], rows.length])).toEqual([
      [0, 500],
      [500, 500],
      [1_000, 200],
    ]);
    expect(t.logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ items: 1_200, scored: 0, sums: 3_600 }),
      'aggregate windows warmed',
    );
    expect(Object.fromEntries(t.gauges.items)).toEqual({ scored: 0, cache: 1_200 });
    expect(t.gauges.seconds).toBe(0);
  });

  it('warms the items scored most in the lookback first, asking for at most the bound since lookback minutes ago', async () => {
    const t = setup({ items: 10, limit: 4, scored: ranked('i7', 'i2', 'i30'), lookbackMin: 15 });
    await t.service.onApplicationBootstrap();
    expect(t.scored.mostScored).toHaveBeenCalledWith(1_000 - 15 * 60, 4, 20_000);
    expect(t.calls).toEqual([[7, 2, 0, 1]]);
    expect(Object.fromEntries(t.gauges.items)).toEqual({ scored: 2, cache: 2 });
  });

  it('takes the cache order when the lookback is 0, and with a warning when the score log cannot be read', async () => {
    const off = setup({ items: 5, limit: 3, scored: ranked('i4'), lookbackMin: 0 });
    await off.service.onApplicationBootstrap();
    expect(off.scored.mostScored).not.toHaveBeenCalled();
    expect(off.calls).toEqual([[0, 1, 2]]);
    const failed = setup({ items: 5, limit: 3, scored: new Error('ClickHouse down') });
    await failed.service.onApplicationBootstrap();
    expect(failed.calls).toEqual([[0, 1, 2]]);
    expect(failed.logger.warn).toHaveBeenCalledWith(
      { err: 'ClickHouse down' },
      'aggregate warm-up could not rank items by the score log; it takes them in item cache order',
    );
  });

  it('warms every cached item when there are fewer than the bound, and none when off, nothing is keyed by the candidate alone or no item is cached', async () => {
    const few = setup({ items: 7, limit: 20_000 });
    await few.service.onApplicationBootstrap();
    expect(few.calls).toEqual([[0, 1, 2, 3, 4, 5, 6]]);
    for (const t of [
      setup({ items: 7, limit: 0 }),
      setup({ items: 7, limit: 100, warmable: false }),
      setup({ items: 0, limit: 100 }),
    ]) {
      await t.service.onApplicationBootstrap();
      expect(t.calls).toEqual([]);
      expect(t.scored.mostScored).not.toHaveBeenCalled();
      expect(t.logger.info).not.toHaveBeenCalled();
      expect(t.gauges.items.size).toBe(0);
    }
  });

  it('starts no read once SCORER_AGGREGATE_WARM_MAX_MS is spent, and says how far it got', async () => {
    const t = setup({ items: 5_000, limit: 5_000, readMs: 400, maxMs: 1_000 });
    await t.service.onApplicationBootstrap();
    expect(t.calls).toHaveLength(3); // reads start at 0, 400 and 800 ms
    expect(t.logger.info).not.toHaveBeenCalled();
    expect(t.logger.warn).toHaveBeenCalledWith(
      { items: 1_500, scored: 0, of: 5_000, sums: 4_500, ms: 1_200 },
      'aggregate warm-up reached SCORER_AGGREGATE_WARM_MAX_MS; the first requests read the rest',
    );
    expect(t.gauges.seconds).toBe(1.2);
  });

  it('stops at a failed read with a warning, without failing the start', async () => {
    const t = setup({ items: 2_000, limit: 2_000, failAt: 1 });
    await expect(t.service.onApplicationBootstrap()).resolves.toBeUndefined();
    expect(t.calls).toHaveLength(1);
    expect(t.logger.warn).toHaveBeenCalledWith(
      { items: 500, scored: 0, of: 2_000, sums: 1_500, ms: 0, err: 'redis down' },
      'aggregate warm-up stopped; the first requests read the rest',
    );
    // The chunk read before the failure counts.
    expect(Object.fromEntries(t.gauges.items)).toEqual({ scored: 0, cache: 500 });
  });
});
