import type { DeadLetterInput, FetchedRange } from '@mmctr/kafka';

/** What one fetched batch hands to the batcher: one partition's messages, decoded and routed. */
export interface PartitionChunk<T> extends FetchedRange {
  valid: T[];
  /** Kafka offset of each `valid` record (same order), to dead-letter one the store refuses. */
  validOffsets: string[];
  invalid: DeadLetterInput[];
}

export const chunkRows = (c: PartitionChunk<unknown>): number =>
  Math.max(1, c.valid.length + c.invalid.length);
