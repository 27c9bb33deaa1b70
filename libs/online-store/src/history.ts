import type { BehaviourEvent } from '@mmctr/contracts';

export interface HistoryEntry {
  item_id: string;
  ts_ms: number;
}

export interface HistoryOptions {
  /** Behaviour types that enter the list (clicks by default). */
  types: readonly string[];
  /** Longest list kept per user. */
  cap: number;
}

/**
 * Sorted-set member of one behaviour event. The event id makes a redelivered event the same member
 * (ZADD is then a no-op) while two clicks on the same item stay two entries. event_ids cannot
 * contain '|' (contract pattern), so the last '|' separates the two parts.
 */
export const historyMember = (target: string, eventId: string): string => `${target}|${eventId}`;

export function itemOfMember(member: string): string {
  const cut = member.lastIndexOf('|');
  return cut < 0 ? member : member.slice(0, cut);
}

/**
 * Redis orders equal scores by member, byte-wise; newest first means descending on both. Exported so
 * the reference and the store agree on ties.
 */
export function compareNewestFirst(
  a: { ts_ms: number; member: string },
  b: { ts_ms: number; member: string },
): number {
  if (a.ts_ms !== b.ts_ms) return b.ts_ms - a.ts_ms;
  return Buffer.compare(Buffer.from(b.member), Buffer.from(a.member));
}

/**
 * What every user's list must hold after any delivery of `events` (any order, any duplicates): the
 * `cap` newest distinct behaviour events per user, newest first. The store keeps exactly this because
 * a sorted set is order-independent and trimming keeps the highest scores.
 */
export function referenceHistory(
  events: Iterable<BehaviourEvent>,
  opts: HistoryOptions,
): Map<string, HistoryEntry[]> {
  const types = new Set(opts.types);
  const byUser = new Map<string, Map<string, number>>();
  for (const e of events) {
    if (!types.has(e.type)) continue;
    let members = byUser.get(e.user_id);
    if (!members) byUser.set(e.user_id, (members = new Map<string, number>()));
    members.set(historyMember(e.item_id, e.event_id), e.ts_ms);
  }
  const out = new Map<string, HistoryEntry[]>();
  for (const [user, members] of byUser) {
    const sorted = [...members].map(([member, ts_ms]) => ({ member, ts_ms })).sort(compareNewestFirst);
    out.set(
      user,
      sorted.slice(0, opts.cap).map((m) => ({ item_id: itemOfMember(m.member), ts_ms: m.ts_ms })),
    );
  }
  return out;
}
