import type { AttributeValue } from '@mmctr/feature-repo';
import { bucketStart, expireAt } from './buckets';
import { counterGroup, counterKey, markerKey, markerSet } from './counter-keys';
import type { CountedAggregation, CounterLayout, KeyPart } from './counter-layout';

/** An event as the counters read it: id, type, time, entity keys and attributes by name. */
export type CountedEvent = Readonly<Record<string, AttributeValue>> & {
  readonly event_id: string;
  readonly type: string;
  readonly ts_ms: number;
};

/** One counter increment: `field` of the hash `key`, which expires at `expireAtMs`. */
export interface Increment {
  readonly key: string;
  readonly field: string;
  readonly amount: number;
  readonly expireAtMs: number;
}

/** What one event adds to one key group, applied at most once (guarded by its marker). */
export interface EventCount {
  readonly eventId: string;
  readonly markerKey: string;
  readonly markerExpireAtMs: number;
  readonly increments: Increment[];
}

/**
 * The counts of one key group: one key declaration's events with the same first key part (its marker
 * set, `markerSet`). Its markers and counters share that first part's hash tag, so one Redis Cluster slot.
 */
export interface GroupCounts {
  readonly group: string;
  readonly events: EventCount[];
}

/** `(entity, key, attribute)` of a looked-up key part, as a map key. */
export const lookupId = (entity: string, key: string, attribute: string): string =>
  JSON.stringify([entity, key, attribute]);

export interface LookupRequest {
  readonly entity: string;
  readonly key: string;
  readonly attribute: string;
}

const matches = (a: CountedAggregation, e: CountedEvent): boolean =>
  a.source === e.type && a.filter.every(([attr, v]) => e[attr] === v);

/** The entity attributes the key parts of `events` need, each once. */
export function lookupsOf(layout: CounterLayout, events: readonly CountedEvent[]): LookupRequest[] {
  const out = new Map<string, LookupRequest>();
  for (const a of layout.aggregations) {
    for (const e of events) {
      if (!matches(a, e)) continue;
      for (const { eventKey, lookup } of a.parts) {
        if (!lookup) continue;
        const key = String(e[eventKey]);
        out.set(lookupId(lookup.entity, key, lookup.attribute), {
          entity: lookup.entity,
          key,
          attribute: lookup.attribute,
        });
      }
    }
  }
  return [...out.values()];
}

/** The event's key value as text, one element per key part (a looked-up attribute as ingest read it). */
function keyValue(a: CountedAggregation, e: CountedEvent, looked: ReadonlyMap<string, string>): string[] {
  return a.parts.map((p: KeyPart): string => {
    const key = String(e[p.eventKey]);
    if (!p.lookup) return key;
    return looked.get(lookupId(p.lookup.entity, key, p.lookup.attribute)) ?? p.lookup.fallback;
  });
}

/**
 * What `events` add to the counters, grouped by key group: for each matching count or sum aggregation,
 * one increment per tier in the bucket of the event's ts_ms. Increments of buckets that have already
 * expired at `nowMs` (events older than any window reads) are left out, and so are events left with none.
 */
export function planCounts(
  layout: CounterLayout,
  events: readonly CountedEvent[],
  looked: ReadonlyMap<string, string>,
  nowMs: number,
  prefix: string,
): GroupCounts[] {
  const groups = new Map<string, Map<string, EventCount>>();
  // A batch can hold an event twice (redelivered next to its first delivery): the first one counts.
  const unique = new Map<string, CountedEvent>();
  for (const e of events) if (!unique.has(e.event_id)) unique.set(e.event_id, e);
  for (const e of unique.values()) {
    for (const a of layout.aggregations) {
      if (!matches(a, e)) continue;
      const amount = a.sum === undefined ? 1 : Number(e[a.sum] ?? 0);
      if (amount === 0) continue;
      const spec = layout.specs.get(a.spec)!;
      const values = keyValue(a, e, looked);
      const counters = counterGroup(prefix, a.spec, values);
      // The marker depends on the first part only (the entity the event carries): a redelivered event
      // finds it whatever a looked-up part (the item's category) maps it to now.
      const group = markerSet(prefix, a.spec, values[0]!);
      const increments: Increment[] = [];
      for (const t of a.tiers) {
        const start = bucketStart(e.ts_ms, t.bucketMs);
        const expiry = expireAt(start, t.bucketMs, spec.upToByBucket.get(t.bucketMs)!);
        if (expiry > nowMs) {
          increments.push({
            key: counterKey(counters, t.bucketMs, start),
            field: a.name,
            amount,
            expireAtMs: expiry,
          });
        }
      }
      if (increments.length === 0) continue;
      let byEvent = groups.get(group);
      if (!byEvent) groups.set(group, (byEvent = new Map<string, EventCount>()));
      const markerStart = bucketStart(e.ts_ms, spec.markerBucketMs);
      let count = byEvent.get(e.event_id);
      if (!count) {
        count = {
          eventId: e.event_id,
          markerKey: markerKey(group, markerStart),
          markerExpireAtMs: markerStart + spec.markerBucketMs + spec.markerHorizonMs,
          increments: [],
        };
        byEvent.set(e.event_id, count);
      }
      count.increments.push(...increments);
    }
  }
  return [...groups].map(([group, byEvent]) => ({ group, events: [...byEvent.values()] }));
}
