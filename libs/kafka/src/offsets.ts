import type { Admin } from 'kafkajs';

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

/**
 * Messages a consumer group has not committed yet on `topics`, summed over their partitions (a partition
 * the group never committed counts from its low watermark).
 */
export async function consumerGroupLag(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<number> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
  let lag = 0;
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const p of ends) {
      const c = Number(done.find((d) => d.partition === p.partition)?.offset ?? -1);
      lag += Number(p.high) - (c >= 0 ? c : Number(p.low));
    }
  }
  return lag;
}
