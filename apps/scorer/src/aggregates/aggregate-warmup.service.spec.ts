import type { Logger } from 'pino';
import type { ScorerConfig } from '../config/scorer-config';
import type { ItemCache } from '../items/item-cache';
import type { ItemCacheService } from '../items/item-cache.service';
import type { AggregateReadsService } from './aggregate-reads.service';
import { AggregateWarmupService } from './aggregate-warmup.service';

interface Options {
  items: number;
  limit: number;
  warmable?: boolean;
  failAt?: number;
  /** Milliseconds each read takes (on a clock of the test's own). */
  readMs?: number;
  maxMs?: number;
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
  const items = { isLoaded: true, refresh: jest.fn(), cache: { size: opts.items } };
  const logger = { info: jest.fn(), warn: jest.fn() };
  const service = new AggregateWarmupService(
    reads as unknown as AggregateReadsService,
    items as unknown as ItemCacheService,
    {
      SCORER_AGGREGATE_WARM_ITEMS: opts.limit,
      SCORER_AGGREGATE_WARM_MAX_MS: opts.maxMs ?? 20_000,
    } as ScorerConfig,
    logger as unknown as Logger,
  );
  return { service, calls, logger };
}

describe('AggregateWarmupService', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reads the first SCORER_AGGREGATE_WARM_ITEMS cached items in request-sized chunks', async () => {
    const t = setup({ items: 5_000, limit: 1_200 });
    await t.service.onApplicationBootstrap();
    expect(t.calls.map((rows) => [rows[0], rows.length])).toEqual([
      [0, 500],
      [500, 500],
      [1_000, 200],
    ]);
    expect(t.logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ items: 1_200, sums: 3_600 }),
      'aggregate windows warmed',
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
      expect(t.logger.info).not.toHaveBeenCalled();
    }
  });

  it('starts no read once SCORER_AGGREGATE_WARM_MAX_MS is spent, and says how far it got', async () => {
    const t = setup({ items: 5_000, limit: 5_000, readMs: 400, maxMs: 1_000 });
    await t.service.onApplicationBootstrap();
    expect(t.calls).toHaveLength(3); // reads start at 0, 400 and 800 ms
    expect(t.logger.info).not.toHaveBeenCalled();
    expect(t.logger.warn).toHaveBeenCalledWith(
      { items: 1_500, of: 5_000, sums: 4_500, ms: 1_200 },
      'aggregate warm-up reached SCORER_AGGREGATE_WARM_MAX_MS; the first requests read the rest',
    );
  });

  it('stops at a failed read with a warning, without failing the start', async () => {
    const t = setup({ items: 2_000, limit: 2_000, failAt: 1 });
    await expect(t.service.onApplicationBootstrap()).resolves.toBeUndefined();
    expect(t.calls).toHaveLength(1);
    expect(t.logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: 'redis down' }),
      'aggregate warm-up stopped; the first requests read the rest',
    );
  });
});
