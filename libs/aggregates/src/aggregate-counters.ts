import type Redis from 'ioredis';
import {
  aggregationOp,
  durationMs,
  type Aggregation,
  type AttributeValue,
  type FeatureRepo,
} from '@mmctr/feature-repo';
import { SlotBatch, groupBySlot } from '@mmctr/online-store';
import { smoothedRatio, tierFor, windowBuckets } from './buckets';
import { counterGroup, counterKey } from './counter-keys';
import { counterLayout, keyText, type CounterLayout } from './counter-layout';
import {
  lookupId,
  lookupsOf,
  planCounts,
  type CountedEvent,
  type EventCount,
  type GroupCounts,
} from './count-plan';

// Applies each event at most once per key group: SADD of its id to the group's marker set decides, and
// only a new id increments the event's counters, in the same script, so a crash or a redelivery can never
// leave an event half-counted or counted twice. All keys of one call share a hash slot (a group's marker
// and counters share its first key part's hash tag, see counter-keys.ts; on a single server every key
// is in one slot).
// KEYS = the call's distinct keys; ARGV[1] = events, then per event: marker key index, marker expiry
// (epoch ms), event id, n, then n (key index, expiry, field, amount).
const COUNT_LUA = `
local i = 2
local applied = 0
for e = 1, tonumber(ARGV[1]) do
  local marker = KEYS[tonumber(ARGV[i])]
  local n = tonumber(ARGV[i + 3])
  if redis.call('SADD', marker, ARGV[i + 2]) == 1 then
    redis.call('PEXPIREAT', marker, ARGV[i + 1])
    for j = 0, n - 1 do
      local at = i + 4 + 4 * j
      local key = KEYS[tonumber(ARGV[at])]
      redis.call('HINCRBYFLOAT', key, ARGV[at + 2], ARGV[at + 3])
      redis.call('PEXPIREAT', key, ARGV[at + 1])
    end
    applied = applied + 1
  end
  i = i + 4 + 4 * n
end
return applied
`;

/** Bounds one script call (how long it holds Redis, and the client's argument spread). */
const INCREMENTS_PER_CALL = 2_000;

type CountPipeline = ReturnType<Redis['pipeline']> & {
  mmctrAggCount(...args: (string | number)[]): CountPipeline;
};

/** Where an entity's attributes live online, and how a stored value reads back. */
export interface EntityHash {
  key(entity: string, id: string): string;
  decode(entity: string, raw: string): AttributeValue;
}

export interface AggregateCountersOptions {
  /** Prefix of every key (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  readonly entityHash: EntityHash;
}

/**
 * The online side of a repository's aggregations: bucketed counters in Redis hashes that ingest
 * increments as events arrive (idempotently) and that readers sum over a window.
 */
export class AggregateCounters {
  readonly layout: CounterLayout;

  constructor(
    private readonly redis: Redis,
    private readonly repo: FeatureRepo,
    private readonly opts: AggregateCountersOptions,
  ) {
    this.layout = counterLayout(repo);
    if (!('mmctrAggCount' in redis)) redis.defineCommand('mmctrAggCount', { lua: COUNT_LUA });
  }

  /** Whether any aggregation counts events (otherwise `record` does nothing). */
  get active(): boolean {
    return this.layout.aggregations.length > 0;
  }

  /**
   * Counts `events` (validated, accepted records); returns how many (event, key group) pairs were new.
   * Two round trips at most: the entity attributes composite keys need, then the increments.
   */
  async record(events: readonly CountedEvent[], nowMs = Date.now()): Promise<number> {
    if (!this.active || events.length === 0) return 0;
    const looked = await this.lookup(events);
    const groups = planCounts(this.layout, events, looked, nowMs, this.opts.keyPrefix);
    return groups.length === 0 ? 0 : this.send(groups);
  }

  private async lookup(events: readonly CountedEvent[]): Promise<Map<string, string>> {
    const requests = lookupsOf(this.layout, events);
    const out = new Map<string, string>();
    if (requests.length === 0) return out;
    const batch = new SlotBatch(this.redis);
    for (const r of requests) {
      const key = this.opts.entityHash.key(r.entity, r.key);
      batch.on(key).hget(key, r.attribute);
    }
    const values = (await batch.exec()) as (string | null)[];
    requests.forEach((r, i) => {
      const raw = values[i];
      // An entity not (yet) stored online keeps its key part's fallback: the attribute's default.
      if (raw !== null && raw !== undefined) {
        out.set(lookupId(r.entity, r.key, r.attribute), keyText(this.opts.entityHash.decode(r.entity, raw)));
      }
    });
    return out;
  }

  private async send(groups: readonly GroupCounts[]): Promise<number> {
    const batch = new SlotBatch<CountPipeline>(this.redis);
    let call = new ScriptCall();
    const flush = (): void => {
      if (call.events === 0) return;
      const [keys, argv] = call.args();
      // numkeys first, as ioredis expects for a command defined without a fixed key count.
      batch.on(keys[0]!).mmctrAggCount(keys.length, ...keys, ...argv);
      call = new ScriptCall();
    };
    for (const slot of groupBySlot(
      this.redis,
      groups.map((g) => [g.group, g] as [string, GroupCounts]),
    )) {
      for (const [, g] of slot) {
        for (const e of g.events) {
          call.add(e);
          if (call.increments >= INCREMENTS_PER_CALL) flush();
        }
      }
      flush();
    }
    const applied = (await batch.exec()) as number[];
    return applied.reduce((n, x) => n + Number(x), 0);
  }

  /** Value of aggregation `name` for `key` (one value per key element) over each of its windows, as of `tMs`. */
  async values(name: string, key: readonly string[], tMs: number): Promise<Map<string, number>> {
    const a = this.aggregation(name);
    if (aggregationOp(a) !== 'ratio') return this.sums(a, key, tMs);
    const op = a.op as { ratio: readonly [string, string]; smoothing?: readonly [number, number] };
    const [num, den] = await Promise.all(op.ratio.map((part) => this.sums(this.aggregation(part), key, tMs)));
    return new Map(
      a.windows.map((w) => [
        w,
        smoothedRatio(num!.get(w)!, den!.get(w)!, op.smoothing ?? [0, 0], a.default ?? 0),
      ]),
    );
  }

  private aggregation(name: string): Aggregation {
    const a = this.repo.aggregations?.find((x) => x.name === name);
    if (!a) throw new Error(`unknown aggregation '${name}'`);
    return a;
  }

  /** Sum of a count or sum aggregation's buckets per window. One round trip. */
  private async sums(a: Aggregation, key: readonly string[], tMs: number): Promise<Map<string, number>> {
    if (key.length !== a.key.length) {
      throw new Error(`aggregation '${a.name}' has a key of ${a.key.length} element(s), got ${key.length}`);
    }
    const group = counterGroup(this.opts.keyPrefix, a.key.join('+'), key);
    const batch = new SlotBatch(this.redis);
    const reads = a.windows.map((w) => {
      const windowMs = durationMs(w);
      const bucketMs = durationMs(tierFor(windowMs, a.granularity ?? []).bucket);
      const starts = windowBuckets(tMs, windowMs, bucketMs);
      for (const s of starts) batch.on(group).hget(counterKey(group, bucketMs, s), a.name);
      return starts.length;
    });
    const raw = (await batch.exec()) as (string | null)[];
    const out = new Map<string, number>();
    let at = 0;
    a.windows.forEach((w, i) => {
      const n = reads[i]!;
      out.set(
        w,
        raw.slice(at, at + n).reduce((s, v) => s + (v === null ? 0 : Number(v)), 0),
      );
      at += n;
    });
    return out;
  }
}

/** The keys and arguments of one script call, keys numbered as they are first used. */
class ScriptCall {
  private readonly keys = new Map<string, number>();
  private readonly argv: (string | number)[] = [];
  events = 0;
  increments = 0;

  add(e: EventCount): void {
    this.argv.push(this.index(e.markerKey), e.markerExpireAtMs, e.eventId, e.increments.length);
    for (const inc of e.increments)
      this.argv.push(this.index(inc.key), inc.expireAtMs, inc.field, inc.amount);
    this.events++;
    this.increments += e.increments.length;
  }

  args(): [string[], (string | number)[]] {
    return [[...this.keys.keys()], [this.events, ...this.argv]];
  }

  private index(key: string): number {
    let i = this.keys.get(key);
    if (i === undefined) this.keys.set(key, (i = this.keys.size + 1));
    return i;
  }
}
