// What reading aggregate windows adds to scoring 500 candidates: per request, the demo layout's
// encoding of the candidates (no aggregates) against the aggregate layout's read of its windows from
// the real Redis plus the same encoding (apps/scorer/test/support/aggregate-layout.ts: item CTR over 1h
// / 24h / 7d, a user x category count, a user count, a bucketised click level), alternately in one run.
// Counters written by ingest's own AggregateCounters.record (events over the last 7 days). Warm: the
// windows' sums cached (the same requests a second time); cold: an empty cache every request;
// boundary: the cache filled as of two minutes in a row, then read as of the next one (the minute tier
// crosses its boundary), rolled forward (the default) against read whole (rolling off; cold-unrolled:
// the cold read with rolling off). hour-boundary-roll-<n>: the same across an hour boundary (filled as
// of the two hours before the current one, read as of its start), with SCORER_AGGREGATE_ROLL_MAX_VALUES
// n: 512 (the default) rolls every tier here, the item hours (168 x 3 values) included; 256 rolls the
// minute tier (60 x 2) and the user x category hours (168 x 1) only; 0 rolls nothing. Each prints the
// bytes of bucket values it keeps. restart: one fresh cache for every request in turn (a restart's
// first requests); restart-warmed: the same after the start-up warm-up (SCORER_AGGREGATE_WARM_ITEMS).
//   node -r ./scripts/register.js bench/score/aggregates.ts [--requests 200] [--events 200000]
import '../../test/setup/load-stack-env.js';
import { loadavg } from 'node:os';
import Redis from 'ioredis';
import { AggregateCounters, AggregateWindowReader, bucketStart } from '@mmctr/aggregates';
import { loadConfig } from '@mmctr/config';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { percentile } from '@mmctr/observability';
import {
  AggregateReadsService,
  AggregateRepository,
  ItemCache,
  ScorerMetrics,
  ServingLayout,
  loadScorerConfig,
  warmCachedItems,
  warmOrder,
  type AssemblyInput,
  type ScorerConfig,
} from '@mmctr/scorer';
import { aggregatesLayout } from '../../apps/scorer/test/support/aggregate-layout';
import { numberArg } from '../support/cli-args';
import { assemblySide, drawRequests, msSince, seededDraws } from './lib/assembly-bench';
import { runMainThenExit } from '../support/run-main';
import { deleteKeysMatching } from '@mmctr/online-store';
import { log } from '../support/log';

const B = 500;
const REQUESTS = numberArg('requests', 200);
const EVENTS = numberArg('events', 200_000);
/** The users and items the events and the requests are drawn from. */
const POPULATION = { users: 1_000, items: 5_000 };
const D = 86_400_000;
const config = loadConfig();
const prefix = `mmctr-bench-agg-score:${Date.now()}:`;

const { rand, pick } = seededDraws(7);
const category = (i: number) => `c${i % 50}`;

/** Each layout's item cache over the same items, an assembler and its buffers. */
const side = (layout: ServingLayout) =>
  assemblySide(layout, POPULATION.items, B, (i) => ({ category: category(i), tags: ['t'] }));

function input(
  layout: ServingLayout,
  cache: ItemCache,
  userId: string,
  ids: string[],
  tsMs: number,
): AssemblyInput {
  return {
    userId,
    context: {},
    tsMs,
    sequences: layout.sequences.map(() => ({ ids: [], rows: new Int32Array(0), tsMs: [] })),
    candidateIds: ids,
    candidateRows: Int32Array.from(ids, (id) => cache.row(id)),
    candidateContext: {},
  };
}

const cpuMs = (from: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1000;
};
const stats = (xs: number[]) => {
  const sorted = [...xs].sort((x, y) => x - y);
  return { p50: Number(percentile(sorted, 50).toFixed(3)), p99: Number(percentile(sorted, 99).toFixed(3)) };
};

async function main(): Promise<void> {
  const redis = new Redis(config.REDIS_URL);
  try {
    const plain = side(new ServingLayout(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH)));
    const agg = side(aggregatesLayout());
    const pipe = redis.pipeline();
    for (let i = 0; i < POPULATION.items; i++) pipe.hset(`${prefix}it:i${i}`, 'category', category(i));
    await pipe.exec();
    const counters = new AggregateCounters(redis, agg.layout.repo, {
      keyPrefix: prefix,
      entityHash: { key: (_e, id) => `${prefix}it:${id}`, decode: (_e, raw) => raw },
    });
    const now = Date.now();
    for (let i = 0; i < EVENTS; i += 5_000) {
      const batch = Array.from({ length: Math.min(5_000, EVENTS - i) }, (_, k) => ({
        event_id: `e${i + k}`,
        type: rand() < 0.7 ? 'impression' : 'click',
        ts_ms: now - 1 - Math.floor(rand() ** 2 * 7 * D),
        user_id: `u${pick(POPULATION.users)}`,
        item_id: `i${pick(POPULATION.items)}`,
        device: 'mobile',
        value: 0,
      }));
      await counters.record(batch, now);
    }
    log(`${EVENTS} events counted`);

    const metrics = new ScorerMetrics();
    const appConfig = { ...config, REDIS_KEY_PREFIX: prefix };
    const budget = { SCORER_REDIS_TIMEOUT_MS: 10_000 } as ScorerConfig;
    const defaultRoll = loadScorerConfig({}).SCORER_AGGREGATE_ROLL_MAX_VALUES;
    const reader = (entries = 1_000_000) =>
      new AggregateReadsService(
        agg.layout,
        new AggregateRepository(redis, agg.layout, appConfig, {
          SCORER_AGGREGATE_CACHE_ENTRIES: entries,
          SCORER_AGGREGATE_ROLL_MAX_VALUES: defaultRoll,
        }),
        budget,
        metrics,
      );
    /** The same service over a window reader of its own, rolling tiers of at most `roll` values. */
    const rolling = (roll: number) => {
      const r = new AggregateWindowReader(redis, agg.layout.repo, agg.layout.aggregates, {
        keyPrefix: prefix,
        cacheEntries: 1_000_000,
        rollMaxValues: roll,
      });
      const repository = {
        fallbacks: r.windows.map((w) => w.fallback),
        read: (keys, tMs, st) => r.read(keys, tMs, Date.now(), st),
      } as AggregateRepository;
      return { reads: new AggregateReadsService(agg.layout, repository, budget, metrics), reader: r };
    };
    const unrolled = () => rolling(0).reads;
    const requests = drawRequests(pick, POPULATION, REQUESTS, B);

    /**
     * One request without aggregates, then with: wall and CPU milliseconds of each (this process's CPU:
     * under a shared machine's load the wall time mostly measures waiting for a core).
     */
    const once = async (reads: AggregateReadsService, r: (typeof requests)[number], t = Date.now()) => {
      let t0 = process.hrtime.bigint();
      let c0 = process.cpuUsage();
      plain.assembler.assemble(
        plain.cache,
        plain.buffers,
        input(plain.layout, plain.cache, r.user, r.ids, t),
      );
      const base = { wall: msSince(t0), cpu: cpuMs(c0) };
      t0 = process.hrtime.bigint();
      c0 = process.cpuUsage();
      const inp = input(agg.layout, agg.cache, r.user, r.ids, t);
      const read = await reads.read(inp, agg.cache);
      if (read.failed) throw new Error('aggregate read failed');
      inp.aggregates = read.values;
      agg.assembler.assemble(agg.cache, agg.buffers, inp);
      return { base, with: { wall: msSince(t0), cpu: cpuMs(c0) } };
    };

    for (const r of requests.slice(0, 20)) await once(reader(), r); // JIT warm-up
    const results: Record<string, unknown> = { candidates: B, requests: REQUESTS, events: EVENTS };
    /** Every request once through `reads()` (a fresh service per request for the cold modes), as of `t`. */
    const measure = async (
      mode: string,
      reads: () => AggregateReadsService,
      t?: number,
      after?: () => Record<string, unknown>,
    ) => {
      const load = loadavg()[0]!.toFixed(2);
      const runs: Awaited<ReturnType<typeof once>>[] = [];
      for (const r of requests) runs.push(await once(reads(), r, t));
      const of = (k: 'base' | 'with', m: 'wall' | 'cpu') => stats(runs.map((x) => x[k][m]));
      results[mode] = {
        load,
        wall_ms: { without: of('base', 'wall'), with: of('with', 'wall') },
        cpu_ms: { without: of('base', 'cpu'), with: of('with', 'cpu') },
        with_total_wall_ms: Number(runs.reduce((n, x) => n + x.with.wall, 0).toFixed(1)),
        added_p50_ms: {
          wall: Number((of('with', 'wall').p50 - of('base', 'wall').p50).toFixed(3)),
          cpu: Number((of('with', 'cpu').p50 - of('base', 'cpu').p50).toFixed(3)),
        },
        ...after?.(),
      };
      log(`${mode}: ${JSON.stringify(results[mode])}`);
    };
    /** Fills `reads`' cache as of each of `times` in turn (a key value keeps its buckets from its second). */
    const fill = async (reads: AggregateReadsService, times: number[]) => {
      for (const t of times) for (const r of requests) await once(reads, r, t);
    };

    // Minute boundary: both caches filled as of the last millisecond of the previous minute and then as
    // of this one, measured as of the next minute once the clock has reached it (a 1h window of minute
    // buckets can be read as of the current or the previous minute only).
    const t1 = bucketStart(Date.now(), 60_000);
    const boundary = { rolled: reader(), unrolled: unrolled() };
    for (const shared of Object.values(boundary)) await fill(shared, [t1 - 1, t1]);
    const waitMs = t1 + 60_000 - Date.now();
    if (waitMs >= 0) log(`waiting ${(waitMs / 1000).toFixed(0)} s for the next minute`);
    // Under load the fills can outlast the minute: the read is then as of a minute already past.
    else log(`the fills outlasted the minute by ${(-waitMs / 1000).toFixed(0)} s; reading as of its end`);
    while (Date.now() < t1 + 60_000) await new Promise((r) => setTimeout(r, 200));
    await measure('boundary', () => boundary.rolled, t1 + 60_000);
    await measure('boundary-unrolled', () => boundary.unrolled, t1 + 60_000);
    const warm = reader();
    const tw = Date.now();
    await fill(warm, [tw]);
    await measure('warm', () => warm, tw);
    await measure('cold', () => reader());
    await measure('cold-unrolled', unrolled);
    // A restart's first requests: one fresh cache for all of them, without and with the start-up warm-up
    // of the windows keyed by the candidate alone (SCORER_AGGREGATE_WARM_ITEMS covering every item).
    const restarted = reader();
    await measure('restart', () => restarted);
    const warmed = reader();
    const w0 = Date.now();
    const { sums: warmSums, error: warmError } = await warmCachedItems(
      warmed,
      agg.cache,
      warmOrder(agg.cache, agg.cache.size).rows,
    );
    if (warmError) throw warmError;
    const warmUp = { warm_up_ms: Date.now() - w0, warm_up_sums: warmSums };
    await measure(
      'restart-warmed',
      () => warmed,
      undefined,
      () => warmUp,
    );

    // Hour boundary: filled as of the two hours before the current one, read as of its start.
    const h1 = bucketStart(Date.now(), 3_600_000);
    for (const roll of [512, 256, 0]) {
      const { reads, reader: r } = rolling(roll);
      await fill(reads, [h1 - 3_600_001, h1 - 3_600_000]);
      await measure(
        `hour-boundary-roll-${roll}`,
        () => reads,
        h1,
        () => ({ default: roll === defaultRoll, kept_bytes: r.keptValues() * 8 }),
      );
    }
    const sums: Record<string, number> = {};
    for (const v of (await metrics.aggregateSums.get()).values) sums[String(v.labels.source)] = v.value;
    console.log(JSON.stringify({ ...results, aggregate_sums: sums }, null, 2));
  } finally {
    await deleteKeysMatching(redis, `${prefix}*`);
    redis.disconnect();
  }
}

runMainThenExit(main);
