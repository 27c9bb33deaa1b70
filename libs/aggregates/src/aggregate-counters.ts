import type Redis from 'ioredis';
import { aggregationOp, type Aggregation, type AttributeValue, type FeatureRepo } from '@mmctr/feature-repo';
import { SlotBatch, groupBySlot } from '@mmctr/online-store';
import { smoothedRatio, windowBuckets, windowSpan } from './buckets';
import { counterGroup, counterKey } from './counter-keys';
import { counterLayout, keyText, type CounterLayout } from './counter-layout';
import { PackWriter } from './pack-writer';
import {
  CountPlanner,
  lookupId,
  lookupsOf,
  type CountedEvent,
  type GroupCounts,
  type Looked,
} from './count-plan';

// Applies a batch's events to the counters of some key groups (one hash slot) at most once each, all or
// nothing: first SMISMEMBER checks every event id against its group's marker set; if none is there,
// the ids are added (SADD) and the increments, summed over the events per counter and field, applied
// (HINCRBY for counts, HINCRBYFLOAT for sums), in the same script, so a crash or a redelivery can never
// leave an event half-counted or counted twice. If some id is there already (a redelivery, or a
// concurrent delivery that counted it first), nothing is written and the reply lists those ids: the
// caller plans the call again without them. Every key of one call shares a hash slot (a group's markers
// and counters share its first key part's hash tag, see counter-keys.ts; on a single server every key
// is in one slot), and KEYS[1], one of them, routes the call.
// ARGV[1] is one MessagePack array (pack-writer.ts): the number of fields, per field its name and
// whether it counts (1) or sums (0), the number of groups, then each group as GroupCounts.write
// writes it. Returns the number of ids added, or a list of (marker number, id number) pairs already
// present, both numbered from 1 in the order written.
const COUNT_LUA = `
local a = cmsgpack.unpack(ARGV[1])
local nf = a[1]
local fields = {}
local counts = {}
for f = 1, nf do
  fields[f] = a[2 * f]
  counts[f] = a[2 * f + 1] == 1
end
local ng = a[2 * nf + 2]
local first = 2 * nf + 3
local markers = {}
local seen = {}
local i = first
for g = 1, ng do
  local stem = a[i]
  local nm = a[i + 2]
  local nc = a[i + 3]
  i = i + 4
  for m = 1, nm do
    local key = stem .. string.format('%.0f', a[i])
    markers[#markers + 1] = key
    local n = a[i + 2]
    local ids = i + 3
    for from = ids, ids + n - 1, 1000 do
      local hits = redis.call('SMISMEMBER', key, unpack(a, from, math.min(from + 999, ids + n - 1)))
      for h = 1, #hits do
        if hits[h] == 1 then
          seen[#seen + 1] = #markers
          seen[#seen + 1] = from - ids + h
        end
      end
    end
    i = ids + n
  end
  for c = 1, nc do i = i + 5 + 2 * a[i + 4] end
end
if #seen > 0 then return seen end
local added = 0
local marker = 0
i = first
for g = 1, ng do
  local stem = a[i + 1]
  local nm = a[i + 2]
  local nc = a[i + 3]
  i = i + 4
  for m = 1, nm do
    marker = marker + 1
    local key = markers[marker]
    local n = a[i + 2]
    local ids = i + 3
    for from = ids, ids + n - 1, 1000 do
      added = added + redis.call('SADD', key, unpack(a, from, math.min(from + 999, ids + n - 1)))
    end
    redis.call('PEXPIREAT', key, string.format('%.0f', a[i + 1]))
    i = ids + n
  end
  for c = 1, nc do
    local key = stem .. a[i] .. ':' .. string.format('%.0f', a[i + 1]) .. ':' .. string.format('%.0f', a[i + 2])
    local k = a[i + 4]
    for f = i + 5, i + 3 + 2 * k, 2 do
      local field = a[f]
      if counts[field] then
        redis.call('HINCRBY', key, fields[field], string.format('%.0f', a[f + 1]))
      else
        redis.call('HINCRBYFLOAT', key, fields[field], string.format('%.17g', a[f + 1]))
      end
    end
    redis.call('PEXPIREAT', key, string.format('%.0f', a[i + 3]))
    i = i + 5 + 2 * k
  end
end
return added
`;

// HGET of one field (ARGV[1]) in each hash of KEYS (one hash slot): the attributes composite keys read.
const LOOKUP_LUA = `
local out = {}
for k = 1, #KEYS do out[k] = redis.call('HGET', KEYS[k], ARGV[1]) end
return out
`;

/** Bounds one script call (how long it holds Redis, and the client's argument spread): ids + fields + keys. */
const OPS_PER_CALL = 4_000;
/** Bounds one lookup script call: hashes read. */
const LOOKUPS_PER_CALL = 5_000;

type CountPipeline = ReturnType<Redis['pipeline']> & {
  mmctrAggCount(...args: (string | number | Buffer)[]): CountPipeline;
  mmctrAggLookup(...args: (string | number)[]): CountPipeline;
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
  /** Every key written lives at least this long after the write (AGGREGATE_MIN_TTL_MS; default 0). */
  readonly minTtlMs?: number;
}

/**
 * The online side of a repository's aggregations: bucketed counters in Redis hashes that ingest
 * increments as events arrive (idempotently) and that readers sum over a window.
 */
export class AggregateCounters {
  readonly layout: CounterLayout;
  private readonly planner: CountPlanner;

  constructor(
    private readonly redis: Redis,
    private readonly repo: FeatureRepo,
    private readonly opts: AggregateCountersOptions,
  ) {
    this.layout = counterLayout(repo);
    this.planner = new CountPlanner(this.layout, opts.keyPrefix, OPS_PER_CALL, opts.minTtlMs);
    if (!('mmctrAggCount' in redis)) redis.defineCommand('mmctrAggCount', { lua: COUNT_LUA });
    if (!('mmctrAggLookup' in redis)) redis.defineCommand('mmctrAggLookup', { lua: LOOKUP_LUA });
  }

  /** Whether any aggregation counts events (otherwise `record` does nothing). */
  get active(): boolean {
    return this.layout.aggregations.length > 0;
  }

  /**
   * Counts `events` (validated, accepted records); returns how many (event, key group) pairs were new.
   * Two round trips: the entity attributes composite keys need, then the increments; one more per
   * round in which some event turned out to be counted already (a redelivery).
   */
  async record(events: readonly CountedEvent[], nowMs = Date.now()): Promise<number> {
    if (!this.active || events.length === 0) return 0;
    const looked = await this.lookup(events);
    const byId = new Map<string, CountedEvent>();
    let groups = this.planner.plan(events, looked, nowMs, byId);

    let applied = 0;
    while (groups.length > 0) {
      const { added, skip, retry } = await this.send(groups);
      applied += added;
      // Each round drops at least one event: it ends.
      groups = retry.length === 0 ? [] : this.planner.replan(retry, skip, byId, looked, nowMs);
    }
    return applied;
  }

  private async lookup(events: readonly CountedEvent[]): Promise<Looked> {
    const out = new Map<string, Map<string, string>>();
    const requests = lookupsOf(this.layout, events);
    if (requests.length === 0) return out;
    const batch = new SlotBatch<CountPipeline>(this.redis);
    const calls: { id: string; entity: string; keys: string[] }[] = [];
    for (const r of requests) {
      const id = lookupId(r.entity, r.attribute);
      out.set(id, new Map());
      const hashes = r.keys.map((k) => [this.opts.entityHash.key(r.entity, k), k] as [string, string]);
      for (const slot of groupBySlot(this.redis, hashes)) {
        for (let at = 0; at < slot.length; at += LOOKUPS_PER_CALL) {
          const part = slot.slice(at, at + LOOKUPS_PER_CALL);
          batch.on(part[0]![0]).mmctrAggLookup(part.length, ...part.map(([h]) => h), r.attribute);
          calls.push({ id, entity: r.entity, keys: part.map(([, k]) => k) });
        }
      }
    }
    const replies = (await batch.exec()) as (string | null)[][];
    calls.forEach((c, i) => {
      const values = out.get(c.id)!;
      replies[i]!.forEach((raw, k) => {
        // An entity not (yet) stored online keeps its key part's fallback: the attribute's default.
        if (raw !== null && raw !== undefined)
          values.set(c.keys[k]!, keyText(this.opts.entityHash.decode(c.entity, raw)));
      });
    });
    return out;
  }

  /**
   * One script call per hash slot and at most OPS_PER_CALL, all in one pipeline. Returns the ids added,
   * and, of the calls that found some id counted already, those ids (per marker set) and their groups.
   */
  private async send(groups: readonly GroupCounts[]): Promise<{
    added: number;
    skip: Map<string, Set<string>>;
    retry: GroupCounts[];
  }> {
    const batch = new SlotBatch<CountPipeline>(this.redis);
    const calls: ScriptCall[] = [];
    let call = new ScriptCall();
    const flush = (): void => {
      if (call.groups.length === 0) return;
      // numkeys first, as ioredis expects for a command defined without a fixed key count.
      batch.on(call.groups[0]!.group).mmctrAggCount(...call.args(this.planner.fields));
      calls.push(call);
      call = new ScriptCall();
    };
    // A single server is one slot: no key names needed to split the groups.
    const slots = this.redis.isCluster
      ? groupBySlot(
          this.redis,
          groups.map((g) => [g.group, g] as [string, GroupCounts]),
        ).map((slot) => slot.map(([, g]) => g))
      : [groups];
    for (const slot of slots) {
      for (const g of slot) {
        if (call.ops > 0 && call.ops + g.ops > OPS_PER_CALL) flush();
        call.add(g);
      }
      flush();
    }
    const replies = (await batch.exec()) as (number | number[])[];
    let added = 0;
    const skip = new Map<string, Set<string>>();
    const retry: GroupCounts[] = [];
    replies.forEach((reply, i) => {
      if (typeof reply === 'number') {
        added += reply;
        return;
      }
      const c = calls[i]!;
      const markers = c.markers();
      for (let k = 0; k < reply.length; k += 2) {
        const [group, ids] = markers[reply[k]! - 1]!;
        let set = skip.get(group.group);
        if (!set) skip.set(group.group, (set = new Set()));
        set.add(ids[reply[k + 1]! - 1]!);
      }
      retry.push(...c.groups);
    });
    return { added, skip, retry };
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
      const { windowMs, bucketMs } = windowSpan(w, a.granularity);
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

/** One script call: its groups, written as the script reads them. */
class ScriptCall {
  readonly groups: GroupCounts[] = [];
  ops = 0;

  add(g: GroupCounts): void {
    this.groups.push(g);
    this.ops += g.ops;
  }

  /** numkeys, the routing key and the packed argument. */
  args(fields: CountPlanner['fields']): [number, string, Buffer] {
    // Ids, key stems and numbers: about 30 bytes per op, room for twice that before the buffer grows.
    const w = new PackWriter(1024 + 64 * this.ops);
    w.num(fields.length);
    for (const f of fields) {
      w.str(f.name);
      w.num(f.count ? 1 : 0);
    }
    w.num(this.groups.length);
    for (const g of this.groups) g.write(w);
    return [1, this.groups[0]!.group, w.finish()];
  }

  /** Per marker, in the order written: its group and ids (the reply of a conflict numbers them). */
  markers(): [GroupCounts, readonly string[]][] {
    return this.groups.flatMap((g) => g.markers.map((m) => [g, m.ids] as [GroupCounts, string[]]));
  }
}
