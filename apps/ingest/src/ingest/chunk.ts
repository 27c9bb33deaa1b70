import type { DeadLetter } from './message-router';

/** What one eachBatch call hands to the batcher: one partition's messages, decoded and routed. */
export interface PartitionChunk<T> {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** Consumer-group generation the messages were fetched in; older ones are never committed. */
  generation: number;
  valid: T[];
  /** Kafka offset of each `valid` record (same order), to dead-letter one the store refuses. */
  validOffsets: string[];
  invalid: DeadLetter[];
}

export const chunkRows = (c: PartitionChunk<unknown>): number =>
  Math.max(1, c.valid.length + c.invalid.length);

/**
 * The offsets to commit after `chunks` are stored: per partition, one past the highest offset, for
 * chunks of the current generation on partitions still assigned to this member.
 */
export function offsetsToCommit(
  chunks: readonly PartitionChunk<unknown>[],
  generation: number,
  isAssigned: (topic: string, partition: number) => boolean,
): { commit: { topic: string; partition: number; offset: string }[]; skipped: number } {
  const highest = new Map<string, { topic: string; partition: number; last: bigint }>();
  let skipped = 0;
  for (const c of chunks) {
    if (c.generation !== generation || !isAssigned(c.topic, c.partition)) {
      skipped++;
      continue;
    }
    const key = `${c.topic}\u0000${c.partition}`;
    const last = BigInt(c.lastOffset);
    const cur = highest.get(key);
    if (!cur || last > cur.last) highest.set(key, { topic: c.topic, partition: c.partition, last });
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
