import type { BehaviourEvent, EventType } from '@mmctr/contracts';
import { mulberry32 } from '@mmctr/synth';

/** A deterministic pseudo-random stream (tests must not depend on Math.random). */
export const rng = mulberry32;

const BASE_TS = Date.UTC(2026, 0, 1);

/**
 * `n` valid events for users `${prefix}u<k>`; a few heavy users have far more than 100 clicks, and
 * timestamps are shuffled (arrival order differs from event time).
 */
export function makeEvents(prefix: string, n: number, users: number, seed = 1): BehaviourEvent[] {
  const rand = rng(seed);
  const types: EventType[] = ['impression', 'impression', 'click', 'click', 'conversion'];
  const out: BehaviourEvent[] = [];
  for (let i = 0; i < n; i++) {
    const heavy = rand() < 0.05;
    const user = heavy ? Math.floor(rand() * 3) : Math.floor(rand() * users);
    const type = types[Math.floor(rand() * types.length)]!;
    const e: BehaviourEvent = {
      schema_version: 1,
      event_id: `${prefix}e${i}`,
      type,
      ts_ms: BASE_TS + Math.floor(rand() * 6 * 3_600_000),
      user_id: `${prefix}u${user}`,
      item_id: `${prefix}i${Math.floor(rand() * 500)}`,
      request_id: `${prefix}r${Math.floor(i / 10)}`,
      position: i % 10,
      context: { device: rand() < 0.5 ? 'mobile' : 'desktop', placement: 'feed', country: 'DE' },
    };
    if (type === 'conversion') e.value = Math.round(rand() * 10_000) / 100;
    out.push(e);
  }
  return out;
}
