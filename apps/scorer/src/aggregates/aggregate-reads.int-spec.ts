// The scorer's aggregate reads on the real stack: counters written by ingest's own AggregateCounters.record
// into the shared Redis (a key prefix of this test's own), read back through AggregateRepository and
// AggregateReadsService, and compared with ClickHouse counts of the same events over the documented
// windows (a database of this test's own). Then Redis refusing connections and Redis silent: the reads
// answer the declared fallbacks, flagged failed, within the budget.
import Redis from 'ioredis';
import {
  AggregateCounters,
  bucketStart,
  expireAt,
  smoothedRatio,
  tierFor,
  windowRange,
  type ReadStats,
} from '@mmctr/aggregates';
import type { AppConfig } from '@mmctr/config';
import { metricValue } from '@mmctr/observability';
import { aggregationOp, durationMs, type Aggregation } from '@mmctr/feature-repo';
import { adminClickHouse, testConfig, uniqueName } from '../../../../test/support/clients';
import { freePort } from '../../../../test/support/free-port';
import { TcpProxy } from '../../../../test/support/tcp-proxy';
import { aggregatesLayout } from '../../test/support/aggregate-layout';
import type { ScorerConfig } from '../config/scorer-config';
import { ItemCache } from '../items/item-cache';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { AggregateRepository } from './aggregate.repository';
import { AggregateReadsService, type AggregateRequest } from './aggregate-reads.service';

const M = 60_000;
const H = 3_600_000;
const D = 86_400_000;
const USERS = ['u0', 'u1', 'u2'];
// 'ix' is in no item hash: its category key part is the attribute's fallback, ''. A category with the
// key's separators checks that reader and ingest write the same key text.
const CATEGORIES: Record<string, string> = { i0: 'books', i1: 'toys', i2: 'books', i3: 'a,b{c}', i4: 'toys' };
const ITEMS = [...Object.keys(CATEGORIES), 'ix'];

interface Event {
  event_id: string;
  type: 'impression' | 'click';
  ts_ms: number;
  user_id: string;
  item_id: string;
}

/** Deterministic pseudo-random events over the last 8 days, a third in the last 2 hours. */
function events(n: number, now: number, seed: number): Event[] {
  let s = seed;
  const rand = () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, (_, i) => {
    const age = rand() < 0.35 ? rand() * 2 * H : rand() * 8 * D;
    return {
      event_id: `e${seed}-${i}`,
      type: rand() < 0.6 ? 'impression' : 'click',
      ts_ms: now - 1 - Math.floor(age),
      user_id: USERS[Math.floor(rand() * USERS.length)]!,
      item_id: ITEMS[Math.floor(rand() * ITEMS.length)]!,
    };
  });
}

describe('aggregate reads against ingest-written counters (real Redis, ClickHouse counts)', () => {
  const layout = aggregatesLayout();
  const prefix = `${uniqueName('mmctr-test-agg-read')}:`;
  const db = uniqueName('mmctr_test_agg_read');
  const ch = adminClickHouse();
  const redis = new Redis(testConfig().REDIS_URL);
  const now = Date.now();
  const stream = events(3_000, now, 7);
  const config = { REDIS_KEY_PREFIX: prefix } as AppConfig;
  const budget = { SCORER_REDIS_TIMEOUT_MS: 2_000 } as ScorerConfig;
  const cache = new ItemCache(layout);

  const service = (client: Redis, timeoutMs = budget.SCORER_REDIS_TIMEOUT_MS) => {
    const repository = new AggregateRepository(client, layout, config, {
      SCORER_AGGREGATE_CACHE_ENTRIES: 10_000,
      SCORER_AGGREGATE_ROLL_MAX_VALUES: 256,
    });
    const metrics = new ScorerMetrics();
    const reads = new AggregateReadsService(
      layout,
      repository,
      { SCORER_REDIS_TIMEOUT_MS: timeoutMs } as ScorerConfig,
      metrics,
    );
    return { repository, reads, metrics };
  };
  const request = (tsMs: number, userId = 'u1'): AggregateRequest => ({
    tsMs,
    userId,
    candidateIds: ITEMS,
    candidateRows: Int32Array.from(ITEMS, (id) => cache.row(id)),
  });
  const record = (counters: AggregateCounters, batch: readonly Event[]) =>
    counters.record(batch.map((e) => ({ ...e, device: 'mobile', value: 0 })));

  beforeAll(async () => {
    for (const [id, category] of Object.entries(CATEGORIES)) {
      await redis.hset(`${prefix}it:${id}`, 'category', category);
      cache.upsertItem({ item_id: id, ts_ms: 0, attributes: { category } });
    }
    const counters = new AggregateCounters(redis, layout.repo, {
      keyPrefix: prefix,
      entityHash: { key: (_entity, id) => `${prefix}it:${id}`, decode: (_entity, raw) => raw },
    });
    for (let i = 0; i < stream.length; i += 500) await record(counters, stream.slice(i, i + 500));
    await ch.command(`CREATE DATABASE ${db}`);
    await ch.command(
      `CREATE TABLE ${db}.ev (type String, ts_ms UInt64, user_id String, item_id String, category String) ENGINE = Memory`,
    );
    await ch.insert(
      `${db}.ev`,
      stream.map((e) => ({ ...e, category: CATEGORIES[e.item_id] ?? '' })),
    );
  });

  afterAll(async () => {
    await ch.command(`DROP DATABASE IF EXISTS ${db}`);
    const keys = await redis.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
  });

  const aggregation = (name: string): Aggregation => layout.repo.aggregations!.find((a) => a.name === name)!;

  /** ClickHouse's count of a count aggregation's events per key value in its window as of t. */
  async function chCounts(
    name: string,
    window: string,
    t: number,
    userId: string,
  ): Promise<Map<string, number>> {
    const a = aggregation(name);
    const ms = durationMs(window);
    const [from, to] = windowRange(t, ms, durationMs(tierFor(ms, a.granularity!).bucket));
    const by = a.key.length === 2 ? 'category' : a.key[0] === 'user' ? 'user_id' : 'item_id';
    const user = a.key[0] === 'user' ? `AND user_id = '${userId}'` : '';
    const rows = await ch.query<{ k: string; n: string }>(
      `SELECT ${by} AS k, count() AS n FROM ${db}.ev
       WHERE type = '${a.source}' AND ts_ms >= ${from} AND ts_ms < ${to} ${user} GROUP BY k`,
    );
    return new Map(rows.map((r) => [r.k, Number(r.n)]));
  }

  /** Every served window's expected values for the request (ClickHouse counts, the documented ratio). */
  async function expected(t: number, userId: string): Promise<number[][]> {
    const out: number[][] = [];
    for (const a of layout.aggregates) {
      const decl = aggregation(a.aggregation);
      const keyOf = (item: string) => (decl.key.length === 2 ? (CATEGORIES[item] ?? '') : item);
      if (aggregationOp(decl) === 'ratio') {
        const op = decl.op as { ratio: [string, string]; smoothing: [number, number] };
        const [num, den] = await Promise.all(op.ratio.map((p) => chCounts(p, a.window, t, userId)));
        out.push(
          ITEMS.map((i) => smoothedRatio(num!.get(i) ?? 0, den!.get(i) ?? 0, op.smoothing, decl.default!)),
        );
      } else {
        const counts = await chCounts(a.aggregation, a.window, t, userId);
        out.push(a.side === 'user' ? [counts.get(userId) ?? 0] : ITEMS.map((i) => counts.get(keyOf(i)) ?? 0));
      }
    }
    return out;
  }

  const plain = (values: readonly Float64Array[]) => values.map((v) => Array.from(v));

  /**
   * Whether every bucket a window reads as of t still lives (is not past its expiry at now): reading as
   * of a past t is exact only then (a 1h window of minute buckets only for t in the current or the
   * previous minute).
   */
  function live(name: string, window: string, t: number): boolean {
    const a = aggregation(name);
    const parts =
      aggregationOp(a) === 'ratio' ? (a.op as { ratio: readonly string[] }).ratio.map(aggregation) : [a];
    const ms = durationMs(window);
    return parts.every((p) => {
      const tier = tierFor(ms, p.granularity!);
      const b = durationMs(tier.bucket);
      return expireAt(bucketStart(t, b) - ms, b, durationMs(tier.up_to)) > Date.now();
    });
  }

  it.each([
    ['now', 0],
    ['earlier in the current minute', now % M],
    ['the previous minute, read after the boundary (the buckets keep one of slack)', (now % M) + 1],
    ['a request replayed from 3 hours ago, mid-bucket', 3 * H + 17_017],
    ['a day ago, on an hour boundary', D + (now % H)],
  ])('reads every live window as ClickHouse counts it: %s', async (_what, ago) => {
    const t = now - ago;
    let compared = 0;
    for (const user of ['u1', 'u2']) {
      const got = await service(redis).reads.read(request(t, user), cache);
      expect(got.failed).toBe(false);
      const want = await expected(t, user);
      // Counts are exact; ratios to 12 decimals (the same division, maybe in another order).
      const rounded = (v: ArrayLike<number>) => Array.from(v, (x) => Number(x.toFixed(12)));
      layout.aggregates.forEach((a, i) => {
        if (!live(a.aggregation, a.window, t)) return;
        expect({ [a.name]: rounded(got.values[i]!) }).toEqual({ [a.name]: rounded(want[i]!) });
        compared += want[i]!.filter((x) => x >= 1).length;
      });
    }
    // The stream is dense enough that the comparison is not one of zeros.
    expect(compared).toBeGreaterThan(3);
  });

  it('serves a repeated read from its cache until the boundary, and then reads the late event', async () => {
    const { repository } = service(redis);
    const keys = service(redis).reads.keys(request(0), cache);
    const t0 = now - 3 * H - (now % H) + 30 * M; // mid-hour, three hours ago
    const first: ReadStats = { cached: 0, read: 0, calls: 0 };
    const before = await repository.read(keys, t0, first);
    expect(first.calls).toBeGreaterThan(0);
    const again: ReadStats = { cached: 0, read: 0, calls: 0 };
    expect(plain(await repository.read(keys, t0 + 30_000, again))).toEqual(plain(before)); // same minute
    expect(again).toEqual({ cached: first.read, read: 0, calls: 0 });

    // A late click on i0 in the hour that closed at t0's hour start: the cached sums stay as they were
    // (exact as of their read) until t crosses the next boundary of their tier.
    const late: Event = {
      event_id: 'late-1',
      type: 'click',
      ts_ms: t0 - 30 * M - 1,
      user_id: 'u1',
      item_id: 'i0',
    };
    const counters = new AggregateCounters(redis, layout.repo, {
      keyPrefix: prefix,
      entityHash: { key: (_entity, id) => `${prefix}it:${id}`, decode: (_entity, raw) => raw },
    });
    expect(await record(counters, [late])).toBeGreaterThan(0);
    const ctr = layout.aggregates.findIndex((a) => a.name === 'item_ctr@24h');
    const i0 = ITEMS.indexOf('i0');
    expect((await repository.read(keys, t0 + 1, first))[ctr]![i0]).toBe(before[ctr]![i0]);
    // Without the cache the late click counts (one more click: a higher CTR)...
    const uncached = (t: number) => service(redis).repository.read(keys, t, first);
    expect((await uncached(t0))[ctr]![i0]).toBeGreaterThan(before[ctr]![i0]!);
    // ...and with it from the next hour on, when the 24h window (hour buckets) is read again.
    expect(plain(await repository.read(keys, t0 + H, first))).toEqual(plain(await uncached(t0 + H)));
  });

  it('rolls the sums of its small tiers forward at a boundary to the values of a full read', async () => {
    // The user's 24h window (24 one-hour buckets kept per user): read as of three hours in a row, the
    // third rolls forward from the second's buckets. Every bucket of a 24h window lives for 7 days.
    const { repository, metrics } = service(redis);
    const keys = service(redis).reads.keys(request(0, 'u1'), cache);
    const keptBytes = async () =>
      metricValue(await metrics.registry.metrics(), 'mmctr_scorer_aggregate_cache_kept_bytes');
    expect(await keptBytes()).toBe(0);
    const userClicks = layout.aggregates.findIndex((a) => a.name === 'user_clicks@24h');
    const t = now - 3 * H - (now % H) + 17_017;
    const st = (): ReadStats => ({ cached: 0, read: 0, calls: 0 });
    for (const ts of [t, t + H]) await repository.read(keys, ts, st());
    const rolled = (await repository.read(keys, t + 2 * H, st()))[userClicks]!;
    const full = (await service(redis).repository.read(keys, t + 2 * H, st()))[userClicks]!;
    expect(Array.from(rolled)).toEqual(Array.from(full));
    expect(full[0]).toBeGreaterThan(0);
    // The kept buckets, scraped: 8 bytes each of what the reader counts.
    expect(repository.keptBytes()).toBeGreaterThan(0);
    expect(await keptBytes()).toBe(repository.keptBytes());
  });

  it('warms the windows keyed by the candidate alone: a request then reads only those it keys', async () => {
    const st = (): ReadStats => ({ cached: 0, read: 0, calls: 0 });
    const keys = service(redis).reads.keys(request(now), cache);
    const cold = st();
    const full = await service(redis).repository.read(keys, now, cold);

    const { repository, reads } = service(redis);
    expect(reads.warmable).toBe(true);
    const rows = Int32Array.from({ length: cache.size }, (_, r) => r);
    expect(await reads.warm(cache, rows, now)).toBeGreaterThan(0);
    const warmed = st();
    const values = await repository.read(keys, now, warmed);
    expect(values.map((v) => Array.from(v))).toEqual(full.map((v) => Array.from(v)));
    // The item windows came from the warm-up; the requester's (and 'ix', not in the item cache) did not.
    expect(warmed.cached).toBeGreaterThan(0);
    expect(warmed.read).toBeGreaterThan(0);
    expect(warmed.read).toBeLessThan(cold.read);
    expect(warmed.cached + warmed.read).toBe(cold.read);
  });

  it('answers the declared fallbacks, failed, while Redis refuses connections', async () => {
    const port = await freePort();
    const down = new Redis({
      port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => undefined);
    try {
      const got = await service(down).reads.read(request(now), cache);
      expect(got.failed).toBe(true);
      expect(plain(got.values)).toEqual(
        layout.aggregates.map((a) =>
          new Array<number>(a.side === 'user' ? 1 : ITEMS.length).fill(
            a.aggregation === 'item_ctr' ? 0.05 : 0,
          ),
        ),
      );
    } finally {
      down.disconnect();
    }
  });

  it('answers the fallbacks within its budget while Redis is silent, and reads again once it answers', async () => {
    const url = new URL(testConfig().REDIS_URL);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 6379));
    const port = await proxy.start();
    const connect = async () => {
      const c = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
      });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    };
    const client = await connect();
    try {
      const { reads } = service(client, 200);
      proxy.setMode('blackhole');
      const got = await reads.read(request(now - 5 * H), cache);
      expect(got.failed).toBe(true);
      expect(got.values[layout.aggregates.findIndex((a) => a.aggregation === 'item_ctr')]![0]).toBe(0.05);
    } finally {
      client.disconnect();
    }
    // Dropped bytes leave that connection's replies out of step: a new one, once Redis answers again.
    proxy.setMode('forward');
    const again = await connect();
    try {
      expect((await service(again).reads.read(request(now - 5 * H), cache)).failed).toBe(false);
    } finally {
      again.disconnect();
      await proxy.stop();
    }
  });
});
