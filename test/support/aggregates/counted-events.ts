import type { AggregateCounters } from '@mmctr/aggregates';

/** What ingest hands the aggregate counters: accepted records. */
export type CountedBatch = Parameters<AggregateCounters['record']>[0];

export interface CountedEventsShape {
  /** The id of the i-th event (`e`), user (`u`), item (`i`) or request (`r`). */
  id: (kind: 'e' | 'u' | 'i' | 'r', i: number) => string;
  tsMs: (i: number) => number;
  users: number;
  items: number;
  /** Every this-many-th event (from the first) is a click, the others impressions. */
  clickEvery: number;
  /** Every this-many-th event (from the first) is on mobile, the others on desktop. */
  mobileEvery: number;
  /** The i-th event's value is i / this. */
  valueDivisor: number;
}

/** `n` events on the feed in DE, user i mod `users` and item i mod `items`, in the shape asked for. */
export function countedEvents(n: number, s: CountedEventsShape) {
  return Array.from({ length: n }, (_, i) => ({
    event_id: s.id('e', i),
    type: i % s.clickEvery === 0 ? 'click' : 'impression',
    ts_ms: s.tsMs(i),
    user_id: s.id('u', i % s.users),
    item_id: s.id('i', i % s.items),
    request_id: s.id('r', i),
    position: 0,
    value: i / s.valueDivisor,
    device: i % s.mobileEvery === 0 ? 'mobile' : 'desktop',
    placement: 'feed',
    country: 'DE',
  }));
}

/** The events as the counters take them (their attributes are checked by ingest, not by the type). */
export const asBatch = (events: readonly object[]): CountedBatch => events as unknown as CountedBatch;
