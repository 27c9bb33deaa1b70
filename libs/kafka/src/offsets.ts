/** Offsets fetched from one partition within one consumer-group generation. */
export interface FetchedRange {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** Generation the messages were fetched in; ranges of an older one are never committed. */
  generation: number;
}

export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * The offsets to commit after `ranges` are stored: per partition, one past the highest offset, for
 * ranges of the current generation on partitions still assigned to this member.
 */
export function offsetsToCommit(
  ranges: readonly FetchedRange[],
  generation: number,
  isAssigned: (topic: string, partition: number) => boolean,
): { commit: OffsetCommit[]; skipped: number } {
  const highest = new Map<string, { topic: string; partition: number; last: bigint }>();
  let skipped = 0;
  for (const r of ranges) {
    if (r.generation !== generation || !isAssigned(r.topic, r.partition)) {
      skipped++;
      continue;
    }
    const key = `${r.topic}\u0000${r.partition}`;
    const last = BigInt(r.lastOffset);
    const cur = highest.get(key);
    if (!cur || last > cur.last) highest.set(key, { topic: r.topic, partition: r.partition, last });
  }
  return {
    commit: [...highest.values()].map((h) => ({
      topic: h.topic,
      partition: h.partition,
      offset: (h.last + 1n).toString(),
    })),
    skipped,
  };
}
