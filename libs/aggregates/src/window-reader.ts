import type Redis from 'ioredis';
import { aggregationOp, type Aggregation, type FeatureRepo } from '@mmctr/feature-repo';
import { SlotBatch, groupBySlot } from '@mmctr/online-store';
import { bucketStart, windowSpan } from './buckets';
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
-- Each bucket's key suffix once per call, not once per key group.
local suffix = {}
for back = 1, nb do suffix[back] = ':' .. b .. ':' .. string.format('%.0f', c - back * bms) end
local out = {}
local o = 0
for g = 1, #KEYS do
  local sums = {}
  for k = 1, nw * nf do sums[k] = 0 end
  local stem = KEYS[g]
  for back = 1, nb do
    local vals = redis.call('HMGET', stem .. suffix[back], unpack(fields))
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
  for k = 1, nw * nf do
    o = o + 1
    out[o] = string.format('%.17g', sums[k])
  end
end
return out
`;

// The values of the `nb` newest closed buckets of each key group of KEYS, for a reader that keeps each
// bucket and rolls its window sums forward. ARGV = bucket ms, c, nb, then the fields. Returns, per key
// group, how many of the buckets hold a field, then for each: how far back it is (1 = the newest) and
// its fields' values as stored ('0' for a field it lacks).
const BUCKETS_LUA = `
local b = ARGV[1]
local bms = tonumber(b)
local c = tonumber(ARGV[2])
local nb = tonumber(ARGV[3])
local fields = {}
for f = 4, #ARGV do fields[#fields + 1] = ARGV[f] end
local nf = #fields
local suffix = {}
for back = 1, nb do suffix[back] = ':' .. b .. ':' .. string.format('%.0f', c - back * bms) end
local out = {}
local o = 0
for g = 1, #KEYS do
  local head = o + 1
  out[head] = 0
  o = head
  local m = 0
  local stem = KEYS[g]
  for back = 1, nb do
    local vals = redis.call('HMGET', stem .. suffix[back], unpack(fields))
    local any = false
    for f = 1, nf do if vals[f] then any = true end end
    if any then
      m = m + 1
      o = o + 1
      out[o] = back
      for f = 1, nf do
        o = o + 1
        out[o] = vals[f] or '0'
      end
    end
  end
  out[head] = m
end
return out
`;

type ReadPipeline = ReturnType<Redis['pipeline']> & {
  mmctrAggRead(...args: (string | number)[]): ReadPipeline;
  mmctrAggBuckets(...args: (string | number)[]): ReadPipeline;
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
  /** Buckets of the widest window. */
  buckets: number;
  /**
   * Each bucket's values are kept and the sums rolled forward: where an entry's data holds the bucket
   * start they are as of (-1: not rolled).
   */
  ring: number;
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
  /** The most (key value, tier) sums kept in process (oldest written dropped first). */
  readonly cacheEntries: number;
  /** Bounds one script call (how long it holds Redis): bucket reads per call. */
  readonly bucketsPerCall?: number;
  /**
   * A tier whose buckets × fields is at most this keeps each bucket's values per key value (8 bytes
   * each) and, at a boundary, reads only the buckets that closed since, plus those closed less than
   * `rollLatenessMs` before them (the scorer's SCORER_AGGREGATE_ROLL_MAX_VALUES; 0: no tier rolls).
   */
  readonly rollMaxValues: number;
  /**
   * How late an event may be stored and still reach a rolled tier at the next boundary: kept buckets
   * that closed less than this before the last boundary are read again (default 10 min; at least one
   * bucket). A later event counts once its key value is read whole again.
   */
  readonly rollLatenessMs?: number;
}

/**
 * How one read went: the (key value, tier) sums taken from the cache, and those taken from Redis
 * replies (a key value asked twice counts twice, and is read once).
 */
export interface ReadStats {
  cached: number;
  read: number;
  /** Redis commands sent (script calls): 0 when every sum was cached. */
  calls: number;
}

/**
 * The key values of one key declaration for a read, column by column: per key part, either one text
 * shared by every key value (the requester) or one text per key value (each candidate's id or
 * attribute). No array per key value is built, and the texts are looked up as they are.
 */
export interface KeyColumns {
  readonly count: number;
  readonly parts: readonly (string | readonly string[])[];
}

/** KeyColumns of key values given row by row. */
export function keyRows(rows: readonly (readonly string[])[]): KeyColumns {
  const width = rows[0]?.length ?? 0;
  return {
    count: rows.length,
    parts: Array.from({ length: width }, (_, p) => rows.map((r) => r[p]!)),
  };
}

/** The key values of KeyColumns row by row (tests, logs). */
export function rowsOf(keys: KeyColumns): string[][] {
  return Array.from({ length: keys.count }, (_, k) =>
    keys.parts.map((col) => (typeof col === 'string' ? col : col[k]!)),
  );
}

/**
 * What the reader keeps of one key value: its counter group (built once) and, in one array (few memory
 * reads per key value on the cached path), per tier the start `c` of the bucket its sums are as of
 * (NaN: none yet), then each tier's sums. A window value as of t depends only on the closed buckets
 * before the bucket holding t (docs/features.md, the edge rule), so the sums stay exact while t stays
 * in that bucket.
 */
class KeyEntry {
  readonly data: number[];
  /** Rolled tiers: each bucket's values, once kept (index: the tier). */
  rings?: (Float64Array | undefined)[];

  constructor(
    readonly group: string,
    tiers: number,
    width: number,
    /** The maps from the index root down to the one holding this entry, and the key text at each. */
    readonly path: readonly Map<string, unknown>[],
    readonly values: readonly string[],
  ) {
    this.data = new Array<number>(width).fill(0);
    for (let i = 0; i < tiers; i++) this.data[i] = NaN;
  }
}

/**
 * The entries of one key declaration: a map per key part (nested for composite keys), so that a key
 * value is found from its texts without building its counter group, and a bound on their number
 * (oldest written dropped first).
 */
class KeyIndex {
  private readonly root = new Map<string, unknown>();
  /** Insertion order is age: an entry moves to the end when its sums are written. */
  private readonly entries = new Set<KeyEntry>();
  private tiers = 0;
  private width = 0;
  private maxEntries = 1;

  constructor(
    private readonly spec: string,
    private readonly group: (values: readonly string[]) => string,
  ) {}

  /** Tiers per entry, the length of an entry's data, and the most entries kept. */
  bound(tiers: number, width: number, maxEntries: number): void {
    this.tiers = tiers;
    this.width = width;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bucket values kept over every entry (8 bytes each). */
  keptValues(): number {
    let n = 0;
    for (const e of this.entries) for (const r of e.rings ?? []) n += r?.length ?? 0;
    return n;
  }

  /** The entry of key value k of `keys`, made (and the oldest dropped past the bound) when new. */
  entry(keys: KeyColumns, k: number): KeyEntry {
    const parts = keys.parts;
    const last = parts.length - 1;
    let node = this.root;
    for (let p = 0; p < last; p++) {
      const col = parts[p]!;
      const v = typeof col === 'string' ? col : col[k]!;
      let next = node.get(v) as Map<string, unknown> | undefined;
      if (!next) node.set(v, (next = new Map<string, unknown>()));
      node = next;
    }
    const col = parts[last]!;
    const v = typeof col === 'string' ? col : col[k]!;
    return (node.get(v) as KeyEntry | undefined) ?? this.add(keys, k);
  }

  /** Marks an entry as just written (the last to be dropped). */
  touch(e: KeyEntry): void {
    if (this.entries.delete(e)) this.entries.add(e);
  }

  private add(keys: KeyColumns, k: number): KeyEntry {
    const values = keys.parts.map((col) => (typeof col === 'string' ? col : col[k]!));
    const path: Map<string, unknown>[] = [this.root];
    for (let p = 0; p < values.length - 1; p++) path.push(path[p]!.get(values[p]!) as Map<string, unknown>);
    if (values.length === 0) throw new Error(`a key value of '${this.spec}' needs at least one element`);
    const e = new KeyEntry(this.group(values), this.tiers, this.width, path, values);
    path[path.length - 1]!.set(values[values.length - 1]!, e);
    this.entries.add(e);
    if (this.entries.size > this.maxEntries) this.drop(this.entries.values().next().value!);
    return e;
  }

  private drop(e: KeyEntry): void {
    this.entries.delete(e);
    // Empty maps of composite keys go too: a user seen once does not keep a map.
    for (let p = e.path.length - 1; p >= 0; p--) {
      const map = e.path[p]!;
      map.delete(e.values[p]!);
      if (map.size > 0) break;
    }
  }
}

/** Sums of one (key declaration, tier) not cached: the entries to read, and where their sums go. */
interface Miss {
  readonly spec: SpecRead;
  readonly tier: number;
  readonly entries: KeyEntry[];
  /** The key value each of `entries` is, in the request. */
  readonly rows: number[];
  /** Per entry of `entries`, once read. */
  readonly sums: Float64Array[];
  /**
   * Rolled tiers, per entry: its buckets' values (copied from the cache), and how many to read (0: the
   * sums only).
   */
  readonly rings: Float64Array[];
  readonly spans: number[];
}

/** A key declaration as the reader reads it: its tiers, its entries, the served windows keyed by it. */
interface SpecRead {
  readonly spec: string;
  readonly tiers: TierRead[];
  /** Where each tier's sums start in an entry's data. */
  readonly offsets: number[];
  readonly index: KeyIndex;
  readonly windows: number[];
}

/** Where the bucket `back` buckets before `c` sits in a rolled tier's kept buckets (by its start). */
function slotOf(t: TierRead, c: number, back: number): number {
  const i = (c / t.bucketMs - back) % t.buckets;
  return i < 0 ? i + t.buckets : i;
}

/**
 * A rolled tier's sums as of `c` from its kept buckets: each (window, field) summed newest bucket first,
 * as the read script sums them, so that the result is the same number (a field a bucket lacks adds 0).
 */
function windowSums(t: TierRead, c: number, ring: Float64Array): Float64Array {
  const nf = t.fields.length;
  const out = new Float64Array(t.windowsMs.length * nf);
  t.windowsMs.forEach((w, wi) => {
    const nb = w / t.bucketMs;
    for (let back = 1; back <= nb; back++) {
      const at = slotOf(t, c, back) * nf;
      for (let f = 0; f < nf; f++) out[wi * nf + f] = out[wi * nf + f]! + ring[at + f]!;
    }
  });
  return out;
}

/**
 * The online value of some windows of a repository's aggregations for many key values at once, as of a
 * time t: the sums of their closed buckets, read with one script call per (key declaration, tier, hash
 * slot, chunk), all in one pipeline (one round trip), and cached per key value until the next boundary
 * of the tier. Every window of one tier is summed from the same bucket reads (the 1h window's buckets
 * are the newest of the 24h window's when both use 1h buckets). A read whose sums are all cached is
 * answered without waiting: no promise, no allocation per key value.
 */
export class AggregateWindowReader {
  readonly windows: readonly ServedWindow[];
  /** Per key declaration: its tiers as read, its cached entries. */
  private readonly specs = new Map<string, SpecRead>();
  private readonly bucketsPerCall: number;
  private readonly rollMaxValues: number;
  private readonly rollLatenessMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly repo: FeatureRepo,
    refs: readonly WindowRef[],
    private readonly opts: WindowReaderOptions,
  ) {
    this.bucketsPerCall = opts.bucketsPerCall ?? 20_000;
    this.rollMaxValues = opts.rollMaxValues;
    this.rollLatenessMs = opts.rollLatenessMs ?? 10 * 60_000;
    // Tiers and their (window, field) pairs first, then each window's place in its tier's sums.
    const parts = refs.map((ref) => this.parts(ref));
    for (const p of parts.flat()) this.tier(p.a, p.bucketMs, p.windowMs, true);
    this.windows = refs.map((ref, i) => {
      const a = this.aggregation(ref.aggregation);
      const [num, den] = parts[i]!.map((p) => this.tier(p.a, p.bucketMs, p.windowMs, false));
      const spec = a.key.join('+');
      this.specs.get(spec)!.windows.push(i);
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
    // The bound is shared out over the (key declaration, tier) sums: an entry holds one per tier.
    const tiers = [...this.specs.values()].reduce((n, s) => n + s.tiers.length, 0);
    for (const s of this.specs.values()) {
      let width = s.tiers.length;
      for (const t of s.tiers) {
        s.offsets.push(width);
        width += t.windowsMs.length * t.fields.length;
      }
      for (const t of s.tiers)
        if (t.buckets * t.fields.length <= this.rollMaxValues) {
          // The bucket start the kept buckets are as of (the buckets: in an array of their own, made
          // when first kept, so that a key value read once costs no more than without rolling).
          t.ring = width;
          width += 1;
        }
      s.index.bound(s.tiers.length, width, Math.max(1, Math.floor(opts.cacheEntries / tiers)));
    }
    if (!('mmctrAggRead' in redis)) redis.defineCommand('mmctrAggRead', { lua: READ_LUA });
    if (!('mmctrAggBuckets' in redis)) redis.defineCommand('mmctrAggBuckets', { lua: BUCKETS_LUA });
  }

  /** The stem of a key value's counter hashes (one text per key element), as ingest writes them. */
  group(spec: string, values: readonly string[]): string {
    return counterGroup(this.opts.keyPrefix, spec, values);
  }

  /** Key values held per key declaration (each with its sums of every tier read so far). */
  cachedKeys(spec: string): number {
    return this.specs.get(spec)?.index.size ?? 0;
  }

  /** Bucket values kept to roll tiers forward, over every key declaration (8 bytes each). */
  keptValues(): number {
    let n = 0;
    for (const s of this.specs.values()) n += s.index.keptValues();
    return n;
  }

  /**
   * Each served window's value for each of its key declaration's key values, as of `tMs`:
   * `out[i][k]` is windows[i] for the k-th key value of `keys.get(windows[i].spec)` (an empty array when
   * `keys` has none). Sums of a bucket not yet closed by `nowMs` (t ahead of the clock) are read but not
   * cached. Answers at once (not a promise) when every sum is cached.
   */
  read(
    keys: ReadonlyMap<string, KeyColumns>,
    tMs: number,
    nowMs = Date.now(),
    stats?: ReadStats,
  ): Float64Array[] | Promise<Float64Array[]> {
    // Per key declaration: the entry of each key value; then whether every sum is cached.
    const found = new Map<SpecRead, KeyEntry[]>();
    let missed = false;
    for (const s of this.specs.values()) {
      const kv = keys.get(s.spec);
      const n = kv?.count ?? 0;
      if (!kv || n === 0) continue;
      const entries = new Array<KeyEntry>(n);
      const cs = s.tiers.map((t) => bucketStart(tMs, t.bucketMs));
      for (let k = 0; k < n; k++) {
        const e = s.index.entry(kv, k);
        entries[k] = e;
        for (let tier = 0; tier < cs.length; tier++) if (e.data[tier] !== cs[tier]) missed = true;
      }
      found.set(s, entries);
    }
    if (!missed) {
      if (stats) for (const [s, entries] of found) stats.cached += entries.length * s.tiers.length;
      return this.values(found, (s, tier) => {
        const entries = found.get(s)!;
        return { at: s.offsets[tier]!, of: (k) => entries[k]!.data };
      });
    }
    // Some sums to read: this read copies what it takes from the cache before it waits, as a
    // concurrent read may change the cache meanwhile.
    const sums = new Map<SpecRead, Float64Array[][]>();
    const misses: Miss[] = [];
    for (const [s, entries] of found) {
      const perTier: Float64Array[][] = [];
      s.tiers.forEach((t, tier) => {
        const c = bucketStart(tMs, t.bucketMs);
        const off = s.offsets[tier]!;
        const width = t.windowsMs.length * t.fields.length;
        const out = new Array<Float64Array>(entries.length);
        let miss: Miss | undefined;
        entries.forEach((e, k) => {
          if (e.data[tier] === c) out[k] = Float64Array.from(e.data.slice(off, off + width));
          else {
            if (!miss)
              misses.push((miss = { spec: s, tier, entries: [], rows: [], sums: [], rings: [], spans: [] }));
            miss.entries.push(e);
            miss.rows.push(k);
            if (t.ring >= 0) {
              // Rolled forward from the kept buckets when they are of an earlier boundary less than a
              // widest window ago: only the buckets closed since (and those within the lateness
              // allowance before them, which late events may have reached) are read. A key
              // value read before, not kept: every bucket, kept. One never read: its sums only (a
              // cold read stays as cheap as without rolling), its buckets from its next boundary on.
              const have = e.data[tier]!;
              const gap = (c - have) / t.bucketMs;
              const n = t.buckets * t.fields.length;
              const kept = e.rings?.[tier];
              if (kept && e.data[t.ring] === have && gap > 0 && gap < t.buckets) {
                miss.rings.push(kept.slice());
                const late = Math.max(1, Math.ceil(this.rollLatenessMs / t.bucketMs));
                miss.spans.push(Math.min(t.buckets, gap + late));
              } else {
                miss.rings.push(new Float64Array(Number.isNaN(have) ? 0 : n));
                miss.spans.push(Number.isNaN(have) ? 0 : t.buckets);
              }
            }
          }
        });
        if (stats) stats.cached += entries.length - (miss?.rows.length ?? 0);
        perTier.push(out);
      });
      sums.set(s, perTier);
    }
    return this.fetch(misses, tMs, nowMs, stats).then(() => {
      for (const m of misses) {
        const out = sums.get(m.spec)![m.tier]!;
        m.rows.forEach((k, i) => (out[k] = m.sums[i]!));
      }
      return this.values(found, (s, tier) => {
        const out = sums.get(s)![tier]!;
        return { at: 0, of: (k) => out[k]! };
      });
    });
  }

  /**
   * The served windows' values from the sums of each key value of each key declaration read:
   * `sumsOf(spec, tier).of(k)[at + i]` is sum i of that tier for key value k. An empty array for a
   * declaration with no key value in the request.
   */
  private values(
    found: ReadonlyMap<SpecRead, readonly KeyEntry[]>,
    sumsOf: (s: SpecRead, tier: number) => { at: number; of: (k: number) => ArrayLike<number> },
  ): Float64Array[] {
    const out = new Array<Float64Array>(this.windows.length);
    for (const s of this.specs.values()) {
      const n = found.get(s)?.length ?? 0;
      for (const i of s.windows) {
        const w = this.windows[i]!;
        const v = new Float64Array(n);
        out[i] = v;
        if (n === 0) continue;
        const num = sumsOf(s, w.num.tier);
        const at = num.at + w.num.at;
        if (w.ratio) {
          const den = sumsOf(s, w.ratio.den.tier);
          const dat = den.at + w.ratio.den.at;
          const [a, b] = w.ratio.smoothing;
          const dflt = w.ratio.dflt;
          // smoothedRatio, inlined: the same operations in the same order.
          for (let k = 0; k < n; k++) {
            const d = den.of(k)[dat]!;
            v[k] = d + b === 0 ? dflt : (num.of(k)[at]! + a) / (d + b);
          }
        } else for (let k = 0; k < n; k++) v[k] = num.of(k)[at]!;
      }
    }
    return out;
  }

  private async fetch(misses: readonly Miss[], tMs: number, nowMs: number, stats: ReadStats | undefined) {
    const batch = new SlotBatch<ReadPipeline>(this.redis);
    /** Per script call: its miss, the bucket start c, how many buckets back (rolled tiers), the entries. */
    const calls: { m: Miss; c: number; span: number; at: number[] }[] = [];
    const dups: (() => void)[] = [];
    for (const m of misses) {
      const t = m.spec.tiers[m.tier]!;
      const c = bucketStart(tMs, t.bucketMs);
      // An entry asked twice in one request (a repeated candidate) is read once; rolled tiers read as
      // many buckets back as the entry needs (all of the widest window when it has none).
      const first = new Map<KeyEntry, number>();
      const bySpan = new Map<number, [string, number][]>();
      m.entries.forEach((e, i) => {
        if (first.has(e)) return;
        first.set(e, i);
        const span = t.ring >= 0 ? m.spans[i]! : 0;
        let list = bySpan.get(span);
        if (!list) bySpan.set(span, (list = []));
        list.push([e.group, i]);
      });
      dups.push(() => m.entries.forEach((e, i) => (m.sums[i] ??= m.sums[first.get(e)!]!)));
      for (const [span, unique] of bySpan) {
        // span 0: the sums script over every bucket of the widest window.
        const perCall = Math.max(1, Math.floor(this.bucketsPerCall / (span || t.buckets)));
        const argv =
          span > 0
            ? [t.bucketMs, c, span, ...t.fields]
            : [
                t.bucketMs,
                c,
                t.buckets,
                t.windowsMs.length,
                ...t.windowsMs.map((w) => w / t.bucketMs),
                ...t.fields,
              ];
        for (const slot of groupBySlot(this.redis, unique)) {
          for (let i = 0; i < slot.length; i += perCall) {
            const chunk = slot.slice(i, i + perCall);
            const p = batch.on(chunk[0]![0]);
            const keys = chunk.map(([g]) => g);
            if (span > 0) p.mmctrAggBuckets(chunk.length, ...keys, ...argv);
            else p.mmctrAggRead(chunk.length, ...keys, ...argv);
            calls.push({ m, c, span, at: chunk.map(([, k]) => k) });
          }
        }
      }
    }
    const replies = (await batch.exec()) as (string | number)[][];
    if (stats) {
      stats.calls += calls.length;
      for (const m of misses) stats.read += m.entries.length;
    }
    for (const [i, { m, c, span, at }] of calls.entries()) {
      const t = m.spec.tiers[m.tier]!;
      const reply = replies[i]!;
      const n = t.windowsMs.length * t.fields.length;
      // Closed by the clock: [c - b, c) has ended, so no event of it is still being counted on time.
      const closed = c <= bucketStart(nowMs, t.bucketMs);
      let r = 0;
      at.forEach((j, k) => {
        const e = m.entries[j]!;
        let s: Float64Array;
        const ring = span > 0 ? m.rings[j] : undefined;
        if (ring) {
          // The buckets read replace theirs; the others are as cached.
          const nf = t.fields.length;
          for (let back = 1; back <= span; back++)
            ring.fill(0, slotOf(t, c, back) * nf, (slotOf(t, c, back) + 1) * nf);
          const found = Number(reply[r++]);
          for (let q = 0; q < found; q++) {
            const at = slotOf(t, c, Number(reply[r++])) * nf;
            for (let f = 0; f < nf; f++) ring[at + f] = Number(reply[r++]);
          }
          s = windowSums(t, c, ring);
        } else {
          s = new Float64Array(n);
          for (let f = 0; f < n; f++) s[f] = Number(reply[k * n + f]);
        }
        m.sums[j] = s;
        // A replayed older t does not replace the sums of a newer bucket.
        if (closed && !(e.data[m.tier]! > c)) {
          e.data[m.tier] = c;
          const off = m.spec.offsets[m.tier]!;
          for (let f = 0; f < n; f++) e.data[off + f] = s[f]!;
          if (ring) {
            e.data[t.ring] = c;
            (e.rings ??= [])[m.tier] = ring; // this read's own copy, not changed from here on
          } else if (t.ring >= 0) {
            e.data[t.ring] = NaN; // sums only: no buckets kept
            if (e.rings) e.rings[m.tier] = undefined;
          }
          m.spec.index.touch(e);
        }
      });
    }
    for (const d of dups) d();
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
    return counted.map((p) => ({ a: p, ...windowSpan(ref.window, p.granularity) }));
  }

  /** Registers (add) or finds a (window, field) pair in its key declaration's tier. */
  private tier(a: Aggregation, bucketMs: number, windowMs: number, add: boolean): PartAt {
    const spec = a.key.join('+');
    let s = this.specs.get(spec);
    if (!s) {
      const group = (values: readonly string[]) => this.group(spec, values);
      this.specs.set(
        spec,
        (s = { spec, tiers: [], offsets: [], index: new KeyIndex(spec, group), windows: [] }),
      );
    }
    const tiers = s.tiers;
    let tier = tiers.findIndex((t) => t.bucketMs === bucketMs);
    if (tier < 0) tier = tiers.push({ bucketMs, windowsMs: [], fields: [], buckets: 0, ring: -1 }) - 1;
    const t = tiers[tier]!;
    if (add) {
      if (!t.windowsMs.includes(windowMs)) t.windowsMs.push(windowMs);
      if (!t.fields.includes(a.name)) t.fields.push(a.name);
      t.buckets = Math.max(t.buckets, windowMs / bucketMs);
    }
    return { tier, at: t.windowsMs.indexOf(windowMs) * t.fields.length + t.fields.indexOf(a.name) };
  }

  private aggregation(name: string): Aggregation {
    const a = this.repo.aggregations?.find((x) => x.name === name);
    if (!a) throw new Error(`unknown aggregation '${name}'`);
    return a;
  }
}
