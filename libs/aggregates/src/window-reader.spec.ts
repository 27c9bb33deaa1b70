import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { parseFeatureRepo } from '@mmctr/feature-repo';
import { bucketStart } from './buckets';
import { counterGroup, counterKey } from './counter-keys';
import { AggregateWindowReader, keyRows, rowsOf, type ReadStats, type WindowRef } from './window-reader';

// The loader's good vector: item views (1m and 1h tiers), buys, a smoothed conversion ratio, revenue
// (1d tier), user x brand views.
const repo = parseFeatureRepo(
  JSON.parse(
    readFileSync(
      join(__dirname, '..', '..', 'feature-repo', 'test-vectors', 'good', 'aggregations.json'),
      'utf8',
    ),
  ),
);
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const M = 60_000;
const H = 3_600_000;
const PREFIX = 'p:';

/**
 * Redis as the reader uses it: bucket hashes in memory, and the read script's arithmetic (the sum of
 * each window's newest W / b closed buckets before c, fields in ARGV order). Counts the script calls.
 */
class FakeRedis {
  readonly isCluster = false;
  readonly hashes = new Map<string, Map<string, number>>();
  calls = 0;
  /** Bucket hashes the scripts read (key groups × buckets back). */
  bucketReads = 0;
  /** Each exec waits for the next of these while any is left (a slow Redis). */
  readonly gates: Promise<void>[] = [];

  defineCommand(): void {}

  add(spec: string, values: string[], field: string, bucketMs: number, ts: number, n = 1): void {
    const key = counterKey(counterGroup(PREFIX, spec, values), bucketMs, bucketStart(ts, bucketMs));
    let h = this.hashes.get(key);
    if (!h) this.hashes.set(key, (h = new Map<string, number>()));
    h.set(field, (h.get(field) ?? 0) + n);
  }

  pipeline() {
    const queued: (string | number)[][] = [];
    const p = {
      length: 0,
      mmctrAggRead: (...args: (string | number)[]) => {
        queued.push(['sums', ...args]);
        p.length++;
        return p;
      },
      mmctrAggBuckets: (...args: (string | number)[]) => {
        queued.push(['buckets', ...args]);
        p.length++;
        return p;
      },
      exec: async () => {
        await this.gates.shift();
        return queued.map(([kind, ...a]) => [null, kind === 'sums' ? this.sums(a) : this.buckets(a)]);
      },
    };
    return p;
  }

  /** The bucket script: per key group, the non-empty buckets among the nb newest closed ones. */
  private buckets(args: (string | number)[]): (string | number)[] {
    this.calls++;
    this.bucketReads += Number(args[0]) * Number(args[Number(args[0]) + 3]);
    const nk = Number(args[0]);
    const keys = args.slice(1, 1 + nk).map(String);
    const argv = args.slice(1 + nk).map(String);
    const [b, c, nb] = argv.slice(0, 3).map(Number) as [number, number, number];
    const fields = argv.slice(3);
    const out: (string | number)[] = [];
    for (const g of keys) {
      const found: (string | number)[] = [];
      let m = 0;
      for (let back = 1; back <= nb; back++) {
        const h = this.hashes.get(`${g}:${b}:${c - back * b}`);
        if (!h || !fields.some((f) => h.has(f))) continue;
        m++;
        found.push(back, ...fields.map((f) => String(h.get(f) ?? 0)));
      }
      out.push(m, ...found);
    }
    return out;
  }

  private sums(args: (string | number)[]): string[] {
    this.calls++;
    this.bucketReads += Number(args[0]) * Number(args[Number(args[0]) + 3]);
    const nk = Number(args[0]);
    const keys = args.slice(1, 1 + nk).map(String);
    const argv = args.slice(1 + nk).map(String);
    const [b, c, nb, nw] = argv.slice(0, 4).map(Number) as [number, number, number, number];
    const wins = argv.slice(4, 4 + nw).map(Number);
    const fields = argv.slice(4 + nw);
    const out: string[] = [];
    for (const g of keys) {
      const sums = new Array<number>(nw * fields.length).fill(0);
      for (let back = 1; back <= nb; back++) {
        const h = this.hashes.get(`${g}:${b}:${c - back * b}`);
        fields.forEach((f, fi) => {
          const v = h?.get(f);
          if (v !== undefined)
            wins.forEach((w, wi) => {
              if (back <= w) sums[wi * fields.length + fi]! += v;
            });
        });
      }
      out.push(...sums.map(String));
    }
    return out;
  }
}

const REFS: WindowRef[] = [
  { aggregation: 'item_views', window: '1h' },
  { aggregation: 'item_views', window: '24h' },
  { aggregation: 'item_conversion', window: '7d' },
  { aggregation: 'user_brand_views', window: '7d' },
];

// Rolls the minute tier (60 x 1) and user x brand hours (168 x 1), not the items' hours (168 x 2).
function setup(cacheEntries = 1_000, rollMaxValues = 256) {
  const redis = new FakeRedis();
  const reader = new AggregateWindowReader(redis as unknown as Redis, repo, REFS, {
    keyPrefix: PREFIX,
    cacheEntries,
    rollMaxValues,
  });
  return { redis, reader };
}

/** Items i1 (views in both tiers, buys), i2 (views an hour old only), the user x brand views of u1. */
function seed(redis: FakeRedis, t: number): void {
  redis.add('item', ['i1'], 'item_views', M, t - 2 * M, 3);
  redis.add('item', ['i1'], 'item_views', H, t - 2 * M, 3);
  redis.add('item', ['i1'], 'item_views', H, t - 5 * H, 10);
  redis.add('item', ['i1'], 'item_buys', H, t - 5 * H, 2);
  redis.add('item', ['i2'], 'item_views', M, t - 61 * M, 4); // left the 1h window
  redis.add('item', ['i2'], 'item_views', H, t - 2 * H, 4);
  redis.add('user+item.brand', ['u1', 'acme'], 'user_brand_views', H, t - 3 * H, 5);
  redis.add('user+item.brand', ['u1', 'a,b{c}'], 'user_brand_views', H, t - 3 * H, 1);
  redis.add('item', ['i1'], 'item_views', M, t, 100); // the bucket holding t: never counted
}

const keysOf = (items: string[], brands: string[], user = 'u1') =>
  new Map([
    ['item', keyRows(items.map((i) => [i]))],
    ['user+item.brand', { count: brands.length, parts: [user, brands] }],
  ]);

const plain = (v: Float64Array[]) => v.map((x) => Array.from(x));
const stats = (): ReadStats => ({ cached: 0, read: 0, calls: 0 });

describe('AggregateWindowReader', () => {
  const t = T0 + 10 * H + 30 * M + 17;
  const now = t + 1; // the read's clock: every bucket before t's is closed

  it('sums each window of closed buckets per key value, repeated and unknown key values included', async () => {
    const { redis, reader } = setup();
    seed(redis, t);
    const got = await reader.read(
      keysOf(['i1', 'i2', 'i1', 'ix'], ['acme', 'a,b{c}', 'none', 'acme', 'acme']),
      t,
      now,
    );
    // i1's hourly view 2 minutes before t is in the hour holding t: not yet in the 24h window.
    // Conversion (buys + 1) / (views + 20): (2 + 1) / (10 + 20) for i1.
    expect(plain(got)).toEqual([
      [3, 0, 3, 0],
      [10, 4, 10, 0],
      [3 / 30, 1 / 24, 3 / 30, 1 / 20],
      [5, 1, 0, 5, 5],
    ]);
    // One script call per (key declaration, tier): item 1m, item 1h, user x brand 1h.
    expect(redis.calls).toBe(3);
  });

  it('answers from its cache, at once, until t crosses the next boundary of a tier', async () => {
    const { redis, reader } = setup();
    seed(redis, t);
    const keys = keysOf(['i1', 'i2'], ['acme']);
    const first = stats();
    const before = plain(await reader.read(keys, t, now, first));
    expect(first).toEqual({ cached: 0, read: 2 * 2 + 1, calls: 3 });
    // A late view in the bucket that closed last: the cached sums stay as read until the boundary.
    redis.add('item', ['i1'], 'item_views', M, t - M, 1);
    redis.add('item', ['i1'], 'item_views', H, t - M, 1);
    const again = stats();
    const cached = reader.read(keys, t + 20_000, now, again);
    expect(Array.isArray(cached)).toBe(true); // no promise: nothing to wait for
    expect(plain(cached as Float64Array[])).toEqual(before);
    expect(again).toEqual({ cached: 5, read: 0, calls: 0 });
    // The next minute: the 1m tier is read again (the late view counts), the 1h tier still cached.
    const next = stats();
    const later = plain(await reader.read(keys, bucketStart(t, M) + M, now + M, next));
    expect(next).toEqual({ cached: 3, read: 2, calls: 1 });
    expect(later[0]).toEqual([3 + 1 + 100, 0]); // the late view, and the bucket that held t
    expect(later[1]).toEqual(before[1]);
  });

  it('does not keep sums of a bucket not closed by its clock, nor replace newer sums with a replayed older t', async () => {
    const { redis, reader } = setup();
    seed(redis, t);
    const keys = keysOf(['i1'], ['acme']);
    const ahead = stats();
    await reader.read(keys, t + M, now, ahead); // t a minute ahead of the clock
    expect(ahead.calls).toBe(3);
    const again = stats();
    await reader.read(keys, t + M, now, again);
    expect(again.calls).toBe(1); // the minute tier again; the hour of t + M has closed buckets only
    // Cached as of the next minute; a read as of t (the minute before) reads without replacing it.
    await reader.read(keys, t + M, now + M);
    const older = stats();
    await reader.read(keys, t, now + M, older);
    expect(older.read).toBeGreaterThan(0);
    const newer = stats();
    await reader.read(keys, t + M, now + M, newer);
    expect(newer.calls).toBe(0);
  });

  it('holds at most its bound of key values, and drops the oldest written first', async () => {
    // 5 (key value, tier) sums over 3 tiers: one key value per declaration.
    const { redis, reader } = setup(5);
    seed(redis, t);
    await reader.read(keysOf(['i1', 'i2', 'i3'], ['acme', 'b2']), t, now);
    expect(reader.cachedKeys('item')).toBe(1);
    expect(reader.cachedKeys('user+item.brand')).toBe(1);
    const s = stats();
    const got = await reader.read(keysOf(['i3', 'i1'], ['b2']), t, now, s);
    expect(s.cached).toBe(2 + 1); // i3 (both tiers) and b2 were the last written
    expect(plain(got)[1]).toEqual([0, 10]);
  });

  it('answers a read with the sums it saw, whatever a concurrent read writes meanwhile', async () => {
    const { redis, reader } = setup();
    seed(redis, t);
    await reader.read(keysOf(['i1'], []), t, now);
    const release: (() => void)[] = [];
    for (let i = 0; i < 2; i++) redis.gates.push(new Promise<void>((r) => release.push(r)));
    const slow = reader.read(keysOf(['i1', 'i2'], []), t, now); // i2 not cached: waits on Redis
    // An hour later the 24h window holds the hour of t too: the cached sums of i1 change.
    const newer = reader.read(keysOf(['i1'], []), t + H, now + H);
    release[1]!();
    expect(plain(await newer)[1]).toEqual([13]);
    release[0]!();
    expect(plain(await slow)[1]).toEqual([10, 4]);
  });

  it('rolls a small tier forward at its boundaries: reads the buckets closed since and those within the lateness allowance, equal to a full read', async () => {
    const { redis, reader } = setup();
    seed(redis, t);
    const keys = keysOf(['i1', 'i2'], ['acme', 'a,b{c}']);
    await reader.read(keys, t, now); // never read: the sums only
    const c = bucketStart(t, M);
    const hour = 2 * 168 + 2 * 168; // the items' hour tier (read whole), user x brand (never rolled yet)
    for (const [ts, reads] of [
      [c + M, 2 * 60], // read before, no buckets kept: every bucket of the 1h window, kept
      [c + 4 * M, 2 * 13], // three boundaries: the three minutes closed since and the 10 before them
      [c + 4 * M + 1, 0], // the same minute: cached
      [c + 64 * M, 2 * 60 + hour], // a whole window later: every bucket; an hour boundary too
    ] as const) {
      if (reads > 0) redis.add('item', ['i2'], 'item_views', M, ts - M, 2); // the minute before ts
      // Stored late: a minute that closed 8 minutes before ts (within the 10-minute allowance).
      if (reads > 0) redis.add('item', ['i1'], 'item_views', M, ts - 9 * M, 1);
      redis.bucketReads = 0;
      const got = plain(await reader.read(keys, ts, ts + 1));
      const fresh = setup();
      for (const [k, h] of redis.hashes) fresh.redis.hashes.set(k, h);
      expect({ ts, got }).toEqual({ ts, got: plain(await fresh.reader.read(keys, ts, ts + 1)) });
      expect({ ts, reads: redis.bucketReads }).toEqual({ ts, reads });
    }
    // The next hour: user x brand (168 one-hour buckets x 1 field) rolls too; the items' hour tier
    // (168 x 2, over the bound) is read whole.
    redis.bucketReads = 0;
    const ts = c + 64 * M + H;
    const got = plain(await reader.read(keys, ts, ts + 1));
    const fresh = setup();
    for (const [k, h] of redis.hashes) fresh.redis.hashes.set(k, h);
    expect(got).toEqual(plain(await fresh.reader.read(keys, ts, ts + 1)));
    expect(redis.bucketReads).toBe(2 * 60 + 2 * 168 + 2 * 2);
  });

  it('rolls a larger tier under a raised bound, and counts the bucket values it keeps', async () => {
    const { redis, reader } = setup(1_000, 512);
    seed(redis, t);
    const keys = keysOf(['i1', 'i2'], ['acme']);
    const h = bucketStart(t, H);
    await reader.read(keys, h - 1, h); // never read: the sums only, nothing kept
    expect(reader.keptValues()).toBe(0);
    await reader.read(keys, h, h + 1); // read before: every bucket, kept
    // Per item: 60 minutes x 1 field and 168 hours x 2 fields; the user x brand pair: 168 x 1.
    expect(reader.keptValues()).toBe(2 * (60 + 168 * 2) + 168);
    redis.add('item', ['i1'], 'item_views', H, h, 7); // the hour that closes next
    redis.bucketReads = 0;
    const got = plain(await reader.read(keys, h + H, h + H + 1));
    const fresh = setup();
    for (const [k, hash] of redis.hashes) fresh.redis.hashes.set(k, hash);
    expect(got).toEqual(plain(await fresh.reader.read(keys, h + H, h + H + 1)));
    // The minute tier crossed a whole window (every bucket again); both hour tiers rolled: the hour
    // closed since and the one before it (the lateness allowance).
    expect(redis.bucketReads).toBe(2 * 60 + 2 * 2 + 2);
  });

  it('turns key values given row by row into columns and back', () => {
    const rows = [
      ['u1', 'a'],
      ['u1', 'b'],
    ];
    expect(rowsOf(keyRows(rows))).toEqual(rows);
    expect(rowsOf({ count: 2, parts: ['u1', ['a', 'b']] })).toEqual(rows);
  });
});
