import type { AttributeValue } from '@mmctr/feature-repo';
import { bucketStart, expireAt } from './buckets';
import { counterGroup, counterKey, markerKey, markerSet } from './counter-keys';
import type { CountedAggregation, CounterLayout, KeyPart } from './counter-layout';
import type { PackWriter } from './pack-writer';

/** An event as the counters read it: id, type, time, entity keys and attributes by name. */
export type CountedEvent = Readonly<Record<string, AttributeValue>> & {
  readonly event_id: string;
  readonly type: string;
  readonly ts_ms: number;
};

/** `(entity, attribute)` of a looked-up key part, as a map key. */
export const lookupId = (entity: string, attribute: string): string => `${entity}.${attribute}`;

/** Looked-up key parts: per `lookupId(entity, attribute)`, the attribute's text per entity key. */
export type Looked = ReadonlyMap<string, ReadonlyMap<string, string>>;

export interface LookupRequest {
  readonly entity: string;
  readonly attribute: string;
  /** The entity keys whose attribute the batch needs, each once. */
  readonly keys: string[];
}

function matches(a: CountedAggregation, e: CountedEvent): boolean {
  if (a.source !== e.type) return false;
  for (const [attr, v] of a.filter) if (e[attr] !== v) return false;
  return true;
}

/** The entity attributes the key parts of `events` need, each once per (entity, attribute). */
export function lookupsOf(layout: CounterLayout, events: readonly CountedEvent[]): LookupRequest[] {
  const out = new Map<string, { entity: string; attribute: string; keys: Set<string> }>();
  for (const a of layout.aggregations) {
    for (const { eventKey, lookup } of a.parts) {
      if (!lookup) continue;
      const id = lookupId(lookup.entity, lookup.attribute);
      let r = out.get(id);
      if (!r) out.set(id, (r = { entity: lookup.entity, attribute: lookup.attribute, keys: new Set() }));
      for (const e of events) if (matches(a, e)) r.keys.add(String(e[eventKey]));
    }
  }
  return [...out.values()]
    .filter((r) => r.keys.size > 0)
    .map((r) => ({ entity: r.entity, attribute: r.attribute, keys: [...r.keys] }));
}

/** A key part's value as text (a looked-up attribute as ingest read it); `values` is `looked`'s entry. */
function partValue(p: KeyPart, e: CountedEvent, values: ReadonlyMap<string, string> | undefined): string {
  const key = String(e[p.eventKey]);
  if (!p.lookup) return key;
  return values?.get(key) ?? p.lookup.fallback;
}

/** `,<encoded value>` per key part after the first: the counter name's tail after the first part's. */
function restOf(p: SpecPlan, e: CountedEvent, looked: Looked): string {
  let rest = '';
  for (let k = 1; k < p.parts.length; k++) {
    const part = p.parts[k]!;
    const values = part.lookup && looked.get(p.lookupIds[k]!);
    rest += `,${encodeURIComponent(partValue(part, e, values))}`;
  }
  return rest;
}

/** One counter hash of a key group, as a script call writes it: what the batch adds to each field. */
export interface CounterCounts {
  readonly key: string;
  readonly expireAtMs: number;
  /** (field, sum) of each field some event touched. */
  readonly amounts: [string, number][];
}

/** An aggregation as the planner applies it: its field, and per tier the bucket width's index. */
interface AggregationPlan {
  readonly a: CountedAggregation;
  readonly field: number;
  readonly widths: readonly number[];
}

/** One key declaration: its aggregations (sharing counter hashes and markers) and bucket widths. */
interface SpecPlan {
  /** Its position among the planner's declarations. */
  readonly index: number;
  readonly spec: string;
  /** The entity of its first part, as the hash tag names it. */
  readonly tagEntity: string;
  readonly parts: readonly KeyPart[];
  /** Per part, its `lookupId` when it is looked up. */
  readonly lookupIds: readonly (string | undefined)[];
  readonly aggregations: readonly AggregationPlan[];
  /** The hash field of each of its count and sum aggregations. */
  readonly fields: readonly string[];
  /** Each field's number in the planner's `fields`, from 1. */
  readonly fieldNo: readonly number[];
  readonly bucketMs: readonly number[];
  /** Per bucket width: a bucket starting at s expires at s + this (see expireAt). */
  readonly expiryOffsetMs: readonly number[];
  readonly markerBucketMs: number;
  readonly markerAfterMs: number;
}

function specPlans(layout: CounterLayout): SpecPlan[] {
  return [...layout.specs].map(([spec, s], index) => {
    const own = layout.aggregations.filter((a) => a.spec === spec);
    const bucketMs = [...s.upToByBucket.keys()];
    return {
      index,
      spec,
      tagEntity: spec.split('+')[0]!,
      parts: own[0]!.parts,
      lookupIds: own[0]!.parts.map(
        (part) => part.lookup && lookupId(part.lookup.entity, part.lookup.attribute),
      ),
      aggregations: own.map((a, field) => ({
        a,
        field,
        widths: a.tiers.map((t) => bucketMs.indexOf(t.bucketMs)),
      })),
      fields: own.map((a) => a.name),
      fieldNo: own.map((a) => layout.aggregations.indexOf(a) + 1),
      bucketMs,
      expiryOffsetMs: bucketMs.map((b) => expireAt(0, b, s.upToByBucket.get(b)!)),
      markerBucketMs: s.markerBucketMs,
      markerAfterMs: s.markerBucketMs + s.markerHorizonMs,
    };
  });
}

/** Past this many counters, a group indexes them in a map rather than walking its list. */
const SCAN_LIMIT = 16;

/**
 * What a batch's new events add to one key group: one key declaration's events with the same first key
 * part. Its markers and counters share that first part's hash tag, so one Redis Cluster slot, and one
 * script call applies it atomically: the ids are added to the marker sets and the summed increments
 * applied only if none of the ids is in its marker set yet (see AggregateCounters). Most groups of a
 * batch hold one or a few events: their markers, ids and counters are linked lists in the batch's
 * shared arrays (see Batch), so that a group costs one small object.
 */
export class GroupCounts {
  /** Ids plus counter fields and keys: what applying it costs Redis, roughly. */
  ops = 0;
  markerHead = -1;
  markerCount = 0;
  counterHead = -1;
  counterCount = 0;
  index: Map<string, number> | undefined;

  constructor(
    private readonly batch: Batch,
    readonly plan: SpecPlan,
    /** The first key part's value. */
    readonly first: string,
  ) {}

  /** The marker set stem, `markerSet(prefix, spec, first)`: its hash tag is every key's. */
  get group(): string {
    return markerSet(this.batch.prefix, this.plan.spec, this.first);
  }

  /** Per marker bucket: the marker key, its expiry and the ids counted into it. */
  get markers(): { key: string; expireAtMs: number; ids: string[] }[] {
    const b = this.batch;
    const group = this.group;
    const out = [];
    for (let m = this.markerHead; m >= 0; m = b.mNext[m]!) {
      const ids: string[] = [];
      for (let i = b.mIdHead[m]!; i >= 0; i = b.idNext[i]!) ids.push(b.ids[i]!);
      const start = b.mStart[m]!;
      out.push({ key: markerKey(group, start), expireAtMs: b.expiry(start + this.plan.markerAfterMs), ids });
    }
    return out;
  }

  get counters(): CounterCounts[] {
    const b = this.batch;
    const { fields, bucketMs, expiryOffsetMs } = this.plan;
    const stem = counterGroup(b.prefix, this.plan.spec, [this.first]);
    const out: CounterCounts[] = [];
    for (let c = this.counterHead; c >= 0; c = b.cNext[c]!) {
      const w = b.cWidth[c]!;
      const start = b.cStart[c]!;
      const amounts: [string, number][] = [];
      for (let f = 0; f < fields.length; f++) {
        const v = b.sums[c * b.stride + f]!;
        if (!Number.isNaN(v)) amounts.push([fields[f]!, v]);
      }
      out.push({
        key: counterKey(stem + b.cRest[c]!, bucketMs[w]!, start),
        expireAtMs: b.expiry(start + expiryOffsetMs[w]!),
        amounts,
      });
    }
    return out;
  }

  /**
   * Writes the group as the counting script reads it (see AggregateCounters): its marker set stem
   * (`<marker set>:`), its counter stem, the number of markers and of counters; per marker its bucket
   * start, expiry, n and the n ids; per counter the key value after the first part (`,<encoded>…`),
   * bucket width, bucket start, expiry, k and k (field number, sum), the field numbered as in
   * `CountPlanner.fields` from 1.
   */
  write(w: PackWriter): void {
    const b = this.batch;
    const p = this.plan;
    // The key names of counter-keys.ts, from one encoding of the first part.
    const encoded = encodeURIComponent(this.first);
    const tag = `${b.prefix}agg:{${p.tagEntity}=${encoded}}`;
    w.str(`${tag}:seen:${p.spec}:`);
    w.str(`${tag}:${p.spec}=${encoded}`);
    w.num(this.markerCount);
    w.num(this.counterCount);
    for (let m = this.markerHead; m >= 0; m = b.mNext[m]!) {
      const start = b.mStart[m]!;
      w.num(start);
      w.num(b.expiry(start + p.markerAfterMs));
      w.num(b.mIdCount[m]!);
      for (let i = b.mIdHead[m]!; i >= 0; i = b.idNext[i]!) w.str(b.ids[i]!);
    }
    const nf = p.fields.length;
    for (let c = this.counterHead; c >= 0; c = b.cNext[c]!) {
      const width = b.cWidth[c]!;
      const start = b.cStart[c]!;
      w.str(b.cRest[c]!);
      w.num(p.bucketMs[width]!);
      w.num(start);
      w.num(b.expiry(start + p.expiryOffsetMs[width]!));
      const k = w.reserve();
      let touched = 0;
      for (let f = 0; f < nf; f++) {
        const v = b.sums[c * b.stride + f]!;
        if (Number.isNaN(v)) continue;
        w.num(p.fieldNo[f]!);
        w.num(v);
        touched++;
      }
      w.fill(k, touched);
    }
  }
}

/**
 * The groups of one plan, a key group's events split over several once one reaches `maxOps`; their
 * markers, ids and counters are columns of shared arrays, each declared next to the method that fills it.
 */
class Batch {
  readonly groups: GroupCounts[] = [];
  /** Per declaration (SpecPlan.index), its open group per first part. */
  private readonly open: Map<string, GroupCounts>[] = [];
  constructor(
    readonly prefix: string,
    private readonly maxOps: number,
    /** The most fields of a key declaration. */
    readonly stride: number,
    /** No key of the batch expires before this (the write time plus the minimum TTL; 0: none). */
    readonly expiryFloorMs: number,
  ) {}

  /** When a key whose event-time expiry is `atMs` expires. */
  expiry(atMs: number): number {
    return Math.max(atMs, this.expiryFloorMs);
  }

  group(p: SpecPlan, first: string): GroupCounts {
    let byFirst = this.open[p.index];
    if (!byFirst) this.open[p.index] = byFirst = new Map<string, GroupCounts>();
    let g = byFirst.get(first);
    if (!g || g.ops >= this.maxOps) {
      g = new GroupCounts(this, p, first);
      byFirst.set(first, g);
      this.groups.push(g);
    }
    return g;
  }

  // Markers: bucket start, next marker of the group, first and last id.
  readonly mStart: number[] = [];
  readonly mNext: number[] = [];
  readonly mIdHead: number[] = [];
  readonly mIdTail: number[] = [];
  readonly mIdCount: number[] = [];
  // Ids: value, next id of the marker.
  readonly ids: string[] = [];
  readonly idNext: number[] = [];

  mark(g: GroupCounts, start: number, id: string): void {
    const i = this.ids.length;
    this.ids.push(id);
    this.idNext.push(-1);
    g.ops++;
    let last = -1;
    for (let m = g.markerHead; m >= 0; m = this.mNext[m]!) {
      if (this.mStart[m] === start) {
        this.idNext[this.mIdTail[m]!] = i;
        this.mIdTail[m] = i;
        this.mIdCount[m]!++;
        return;
      }
      last = m;
    }
    const m = this.mStart.length;
    this.mStart.push(start);
    this.mNext.push(-1);
    this.mIdHead.push(i);
    this.mIdTail.push(i);
    this.mIdCount.push(1);
    if (last < 0) g.markerHead = m;
    else this.mNext[last] = m;
    g.markerCount++;
    g.ops++;
  }

  // Counters: the key value after the first part (`,<encoded>…`; `''` for a one-part key), width
  // index, bucket start, next counter of the group, and `stride` sums (NaN: no event touched the field).
  readonly cRest: string[] = [];
  readonly cWidth: number[] = [];
  readonly cStart: number[] = [];
  readonly cNext: number[] = [];
  readonly sums: number[] = [];

  /** Adds `amount` to `field` of group `g`'s counter of key value `rest` in bucket `start` of width `w`. */
  add(g: GroupCounts, rest: string, w: number, start: number, field: number, amount: number): void {
    let c = this.find(g, rest, w, start);
    if (c < 0) {
      c = this.cRest.length;
      this.cRest.push(rest);
      this.cWidth.push(w);
      this.cStart.push(start);
      // Prepended: the order of a group's counters does not matter.
      this.cNext.push(g.counterHead);
      g.counterHead = c;
      g.counterCount++;
      for (let f = 0; f < this.stride; f++) this.sums.push(NaN);
      g.index?.set(`${rest}:${w}:${start}`, c);
      g.ops++;
    }
    const at = c * this.stride + field;
    const was = this.sums[at]!;
    if (Number.isNaN(was)) {
      this.sums[at] = amount;
      g.ops++;
    } else this.sums[at] = was + amount;
  }

  private find(g: GroupCounts, rest: string, w: number, start: number): number {
    if (g.counterCount > SCAN_LIMIT) {
      if (!g.index) {
        g.index = new Map();
        for (let c = g.counterHead; c >= 0; c = this.cNext[c]!)
          g.index.set(`${this.cRest[c]}:${this.cWidth[c]}:${this.cStart[c]}`, c);
      }
      return g.index.get(`${rest}:${w}:${start}`) ?? -1;
    }
    for (let c = g.counterHead; c >= 0; c = this.cNext[c]!) {
      if (this.cStart[c] === start && this.cWidth[c] === w && this.cRest[c] === rest) return c;
    }
    return -1;
  }
}

/**
 * Plans what a batch adds to the counters, grouped by key group: for each matching count or sum
 * aggregation, one increment per tier in the bucket of the event's ts_ms, summed per counter hash and
 * field over the batch. Increments of buckets that have already expired at `nowMs` (events older than
 * any window reads) are left out, and so are events left with none, unless `minTtlMs` keeps every key
 * written alive that long after the write (replays and backtests of old events). A group never exceeds
 * `maxOps` (a key value with more events in the batch gets several groups).
 */
export class CountPlanner {
  private readonly specs: SpecPlan[];
  private readonly stride: number;
  /** Every counter field (count and sum aggregation), and whether it counts (integer increments). */
  readonly fields: readonly { readonly name: string; readonly count: boolean }[];

  constructor(
    layout: CounterLayout,
    private readonly prefix: string,
    private readonly maxOps = Infinity,
    private readonly minTtlMs = 0,
  ) {
    this.specs = specPlans(layout);
    this.fields = layout.aggregations.map((a) => ({ name: a.name, count: a.sum === undefined }));
    this.stride = Math.max(0, ...this.specs.map((p) => p.fields.length));
  }

  /** The plan of `events`; `byId` receives each counted event by id (for `replan`). */
  plan(
    events: readonly CountedEvent[],
    looked: Looked,
    nowMs: number,
    byId = new Map<string, CountedEvent>(),
  ): GroupCounts[] {
    const out = this.batch(nowMs);
    for (const e of events) {
      // A batch can hold an event twice (redelivered next to its first delivery): the first one counts.
      if (byId.has(e.event_id)) continue;
      byId.set(e.event_id, e);
      for (const p of this.specs) this.count(out, p, e, looked, nowMs);
    }
    return out.groups;
  }

  /** `groups` again without the ids of `skip` (per marker set stem); `byId` as `plan` filled it. */
  replan(
    groups: readonly GroupCounts[],
    skip: ReadonlyMap<string, ReadonlySet<string>>,
    byId: ReadonlyMap<string, CountedEvent>,
    looked: Looked,
    nowMs: number,
  ): GroupCounts[] {
    const out = this.batch(nowMs);
    for (const g of groups) {
      const drop = skip.get(g.group);
      for (const m of g.markers)
        for (const id of m.ids) if (!drop?.has(id)) this.count(out, g.plan, byId.get(id)!, looked, nowMs);
    }
    return out.groups;
  }

  private batch(nowMs: number): Batch {
    return new Batch(this.prefix, this.maxOps, this.stride, this.minTtlMs > 0 ? nowMs + this.minTtlMs : 0);
  }

  private count(out: Batch, p: SpecPlan, e: CountedEvent, looked: Looked, nowMs: number): void {
    let group: GroupCounts | undefined;
    let rest = '';
    for (const { a, field, widths } of p.aggregations) {
      if (!matches(a, e)) continue;
      const amount = a.sum === undefined ? 1 : Number(e[a.sum] ?? 0);
      if (amount === 0) continue;
      for (const w of widths) {
        const start = bucketStart(e.ts_ms, p.bucketMs[w]!);
        if (out.expiry(start + p.expiryOffsetMs[w]!) <= nowMs) continue;
        if (!group) {
          const first = String(e[p.parts[0]!.eventKey]);
          if (p.parts.length > 1) rest = restOf(p, e, looked);
          group = out.group(p, first);
          // The marker depends on the first part only (the entity the event carries): a redelivered
          // event finds it whatever a looked-up part (the item's category) maps it to now.
          out.mark(group, bucketStart(e.ts_ms, p.markerBucketMs), e.event_id);
        }
        out.add(group, rest, w, start, field, amount);
      }
    }
  }
}
