import type Redis from 'ioredis';
import { aggregationOp, durationMs, type Aggregation, type FeatureRepo } from '@mmctr/feature-repo';
import { SlotBatch, groupBySlot } from '@mmctr/online-store';
import { bucketStart, smoothedRatio, tierFor } from './buckets';
import { counterGroup } from './counter-keys';

// Sums the closed buckets of one tier for each key group of KEYS, every (window, field) pair at once:
// one HMGET per bucket of the tier's widest window, summed on the server so that a reply is a few
// numbers per key group, not one per bucket. KEYS = key groups (one hash slot); ARGV = bucket ms, c (the
// start of the bucket holding t), buckets to read, window count, each window's bucket count, then the
// fields. Returns, per key group, per window, per field, the sum as text (%.17g: exact for doubles).
const READ_LUA = `
local b = ARGV[1]
local bms = tonumber(b)
local c = tonumber(ARGV[2])
local nb = tonumber(ARGV[3])
local nw = tonumber(ARGV[4])
local wins = {}
for w = 1, nw do wins[w] = tonumber(ARGV[4 + w]) end
local fields = {}
for f = 5 + nw, #ARGV do fields[#fields + 1] = ARGV[f] end
local nf = #fields
local out = {}
for g = 1, #KEYS do
  local sums = {}
  for k = 1, nw * nf do sums[k] = 0 end
  for back = 1, nb do
    local key = KEYS[g] .. ':' .. b .. ':' .. string.format('%.0f', c - back * bms)
    local vals = redis.call('HMGET', key, unpack(fields))
    for f = 1, nf do
      local v = vals[f]
      if v then
        v = tonumber(v)
        for w = 1, nw do
          if back <= wins[w] then sums[(w - 1) * nf + f] = sums[(w - 1) * nf + f] + v end
        end
      end
    end
  end
  for k = 1, nw * nf do out[#out + 1] = string.format('%.17g', sums[k]) end
end
return out
`;

type ReadPipeline = ReturnType<Redis['pipeline']> & {
  mmctrAggRead(...args: (string | number)[]): ReadPipeline;
};

/** A window of an aggregation, as a layout slot names it. */
export interface WindowRef {
  readonly aggregation: string;
  readonly window: string;
}

/** One tier of a key declaration as a reader sums it: every window and field some served window needs. */
interface TierRead {
  readonly bucketMs: number;
  readonly windowsMs: number[];
  readonly fields: string[];
}

/** Where a count or sum part of a served window sits: its tier, and its index in that tier's sums. */
interface PartAt {
  readonly tier: number;
  readonly at: number;
}

interface ServedWindow {
  readonly ref: WindowRef;
  /** The aggregation's key declaration (`user+item.category`). */
  readonly spec: string;
  readonly key: readonly string[];
  readonly num: PartAt;
  /** Ratios: the denominator, the smoothing and the default. */
  readonly ratio?: { den: PartAt; smoothing: readonly [number, number]; dflt: number };
  /** The value when the counters cannot be read: a ratio's default, else 0. */
  readonly fallback: number;
}

export interface WindowReaderOptions {
  /** Prefix of every key (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  /** The most (key group, tier) sums kept in process (oldest dropped first). */
  readonly cacheEntries: number;
  /** Bounds one script call (how long it holds Redis): bucket reads per call. */
  readonly bucketsPerCall?: number;
}

/** How one read went: cached (key group, tier) sums used, and those read from Redis. */
export interface ReadStats {
  cached: number;
  read: number;
  /** Redis commands sent (script calls): 0 when every sum was cached. */
  calls: number;
}

interface CacheEntry {
  /** The start of the bucket holding t when the sums were read: valid while t stays in that bucket. */
  readonly c: number;
  readonly sums: Float64Array;
}

/**
 * Bounded map of window sums per (key group, tier). A window value as of t depends only on the closed
 * buckets before the bucket holding t (docs/features.md, the edge rule), so sums read for that bucket
 * stay exact until t crosses its end; an entry read for another bucket is a miss.
 */
export class BoundaryCache {
  private readonly map = new Map<string, CacheEntry>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, c: number): Float64Array | undefined {
    const e = this.map.get(key);
    return e && e.c === c ? e.sums : undefined;
  }

  set(key: string, c: number, sums: Float64Array): void {
    const old = this.map.get(key);
    if (old && old.c > c) return; // a replayed older t: keep the live entry
    if (old) this.map.delete(key);
    else if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, { c, sums });
  }
}

/** Sums of one (key declaration, tier) not in the cache: the groups' indexes, and where their sums go. */
interface Miss {
  readonly spec: string;
  readonly tier: number;
  readonly groups: readonly string[];
  readonly missed: readonly number[];
  readonly out: Float64Array[];
}

/**
 * The online value of some windows of a repository's aggregations for many key values at once, as of a
 * time t: the sums of their closed buckets, read with one script call per (key declaration, tier, hash
 * slot, chunk), all in one pipeline (one round trip), and cached until the next boundary of the tier.
 * Every window of one tier is summed from the same bucket reads (the 1h window's buckets are the newest
 * of the 24h window's when both use 1h buckets).
 */
export class AggregateWindowReader {
  readonly windows: readonly ServedWindow[];
  /** Per key declaration: its tiers as read. */
  private readonly specs = new Map<string, TierRead[]>();
  /** Per key declaration, per tier: the sums of each key group, by its text. */
  private readonly caches = new Map<string, BoundaryCache[]>();
  private readonly bucketsPerCall: number;

  constructor(
    private readonly redis: Redis,
    private readonly repo: FeatureRepo,
    refs: readonly WindowRef[],
    private readonly opts: WindowReaderOptions,
  ) {
    this.bucketsPerCall = opts.bucketsPerCall ?? 20_000;
    // Tiers and their (window, field) pairs first, then each window's place in its tier's sums.
    const parts = refs.map((ref) => this.parts(ref));
    for (const p of parts.flat()) this.tier(p.a, p.bucketMs, p.windowMs, true);
    this.windows = refs.map((ref, i) => {
      const a = this.aggregation(ref.aggregation);
      const [num, den] = parts[i]!.map((p) => this.tier(p.a, p.bucketMs, p.windowMs, false));
      const spec = a.key.join('+');
      if (aggregationOp(a) !== 'ratio') return { ref, spec, key: a.key, num: num!, fallback: 0 };
      const op = a.op as { ratio: readonly [string, string]; smoothing?: readonly [number, number] };
      const dflt = a.default ?? 0;
      return {
        ref,
        spec,
        key: a.key,
        num: num!,
        ratio: { den: den!, smoothing: op.smoothing ?? [0, 0], dflt },
        fallback: dflt,
      };
    });
    // The bound is shared out over the (key declaration, tier) caches.
    const tiers = [...this.specs.values()].reduce((n, t) => n + t.length, 0);
    for (const [spec, t] of this.specs)
      this.caches.set(
        spec,
        t.map(() => new BoundaryCache(Math.max(1, Math.floor(opts.cacheEntries / tiers)))),
      );
    if (!('mmctrAggRead' in redis)) redis.defineCommand('mmctrAggRead', { lua: READ_LUA });
  }

  /** The stem of a key value's counter hashes (one text per key element), as ingest writes them. */
  group(spec: string, values: readonly string[]): string {
    return counterGroup(this.opts.keyPrefix, spec, values);
  }

  /**
   * Each served window's value for each of its key declaration's key values, as of `tMs`:
   * `out[i][k]` is windows[i] for `keys.get(windows[i].spec)[k]`. Sums of a bucket not yet closed by
   * `nowMs` (t ahead of the clock) are read but not cached.
   */
  async read(
    keys: ReadonlyMap<string, readonly (readonly string[])[]>,
    tMs: number,
    nowMs = Date.now(),
    stats?: ReadStats,
  ): Promise<Float64Array[]> {
    // Per key declaration: its distinct key groups, each key value's index among them, and per tier the
    // sums of each distinct group (filled from the cache, then from Redis).
    const specs = new Map<string, { groups: string[]; index: Int32Array; sums: Float64Array[][] }>();
    const misses: Miss[] = [];
    for (const [spec, tiers] of this.specs) {
      const values = keys.get(spec);
      if (!values?.length) continue;
      const at = new Map<string, number>();
      const groups: string[] = [];
      const index = new Int32Array(values.length);
      values.forEach((v, k) => {
        const g = this.group(spec, v);
        let i = at.get(g);
        if (i === undefined) at.set(g, (i = groups.push(g) - 1));
        index[k] = i;
      });
      const sums = tiers.map((t, tier) => {
        const cache = this.caches.get(spec)![tier]!;
        const c = bucketStart(tMs, t.bucketMs);
        const out = new Array<Float64Array>(groups.length);
        const missed: number[] = [];
        groups.forEach((g, i) => {
          const hit = cache.get(g, c);
          if (hit) out[i] = hit;
          else missed.push(i);
        });
        if (stats) stats.cached += groups.length - missed.length;
        if (missed.length) misses.push({ spec, tier, groups, missed, out });
        return out;
      });
      specs.set(spec, { groups, index, sums });
    }
    if (misses.length) await this.fetch(misses, tMs, nowMs, stats);
    return this.windows.map((w) => {
      const s = specs.get(w.spec);
      if (!s) return new Float64Array(0);
      const num = s.sums[w.num.tier]!;
      const den = w.ratio ? s.sums[w.ratio.den.tier]! : undefined;
      const out = new Float64Array(s.index.length);
      for (let k = 0; k < out.length; k++) {
        const i = s.index[k]!;
        const n = num[i]![w.num.at]!;
        out[k] = w.ratio ? smoothedRatio(n, den![i]![w.ratio.den.at]!, w.ratio.smoothing, w.ratio.dflt) : n;
      }
      return out;
    });
  }

  private async fetch(misses: readonly Miss[], tMs: number, nowMs: number, stats: ReadStats | undefined) {
    const batch = new SlotBatch<ReadPipeline>(this.redis);
    const calls: { m: Miss; t: TierRead; c: number; at: number[] }[] = [];
    for (const m of misses) {
      const t = this.specs.get(m.spec)![m.tier]!;
      const c = bucketStart(tMs, t.bucketMs);
      const widest = Math.max(...t.windowsMs) / t.bucketMs;
      const perCall = Math.max(1, Math.floor(this.bucketsPerCall / widest));
      const argv = [
        t.bucketMs,
        c,
        widest,
        t.windowsMs.length,
        ...t.windowsMs.map((w) => w / t.bucketMs),
        ...t.fields,
      ];
      for (const slot of groupBySlot(
        this.redis,
        m.missed.map((i) => [m.groups[i]!, i] as [string, number]),
      )) {
        for (let i = 0; i < slot.length; i += perCall) {
          const chunk = slot.slice(i, i + perCall);
          batch.on(chunk[0]![0]).mmctrAggRead(chunk.length, ...chunk.map(([g]) => g), ...argv);
          calls.push({ m, t, c, at: chunk.map(([, k]) => k) });
        }
      }
    }
    const replies = (await batch.exec()) as string[][];
    if (stats) stats.calls += calls.length;
    for (const [i, { m, t, c, at }] of calls.entries()) {
      const reply = replies[i]!;
      const n = t.windowsMs.length * t.fields.length;
      // Closed by the clock: [c - b, c) has ended, so no event of it is still being counted on time.
      const closed = c <= bucketStart(nowMs, t.bucketMs);
      const cache = this.caches.get(m.spec)![m.tier]!;
      at.forEach((g, k) => {
        const s = Float64Array.from(reply.slice(k * n, (k + 1) * n), Number);
        m.out[g] = s;
        if (closed) cache.set(m.groups[g]!, c, s);
      });
      if (stats) stats.read += at.length;
    }
  }

  /** The count or sum parts a window reads, with the bucket width of its tier. */
  private parts(ref: WindowRef): { a: Aggregation; bucketMs: number; windowMs: number }[] {
    const a = this.aggregation(ref.aggregation);
    if (!a.windows.includes(ref.window))
      throw new Error(`aggregation '${a.name}' has no window '${ref.window}'`);
    const counted =
      aggregationOp(a) === 'ratio'
        ? (a.op as { ratio: readonly [string, string] }).ratio.map((n) => this.aggregation(n))
        : [a];
    const windowMs = durationMs(ref.window);
    return counted.map((p) => ({
      a: p,
      windowMs,
      bucketMs: durationMs(tierFor(windowMs, p.granularity ?? []).bucket),
    }));
  }

  /** Registers (add) or finds a (window, field) pair in its key declaration's tier. */
  private tier(a: Aggregation, bucketMs: number, windowMs: number, add: boolean): PartAt {
    const spec = a.key.join('+');
    let tiers = this.specs.get(spec);
    if (!tiers) this.specs.set(spec, (tiers = []));
    let tier = tiers.findIndex((t) => t.bucketMs === bucketMs);
    if (tier < 0) tier = tiers.push({ bucketMs, windowsMs: [], fields: [] }) - 1;
    const t = tiers[tier]!;
    if (add) {
      if (!t.windowsMs.includes(windowMs)) t.windowsMs.push(windowMs);
      if (!t.fields.includes(a.name)) t.fields.push(a.name);
    }
    return { tier, at: t.windowsMs.indexOf(windowMs) * t.fields.length + t.fields.indexOf(a.name) };
  }

  private aggregation(name: string): Aggregation {
    const a = this.repo.aggregations?.find((x) => x.name === name);
    if (!a) throw new Error(`unknown aggregation '${name}'`);
    return a;
  }
}
