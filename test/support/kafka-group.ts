import type { Kafka } from 'kafkajs';

/**
 * Whether consumer group `groupId` has committed every message of `topics` (each partition's committed
 * offset at its high watermark). Ingest commits a batch only once all its stores took it, so a caught-up
 * ingest group has written everything produced so far.
 */
export async function groupCaughtUp(kafka: Kafka, groupId: string, topics: string[]): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const { topic, partitions } of committed) {
      const high = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
      // '-1': nothing committed yet, which is caught up only on an empty partition
      if (partitions.some((p) => Math.max(Number(p.offset), 0) < (high.get(p.partition) ?? 0))) return false;
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

/** Deletes `topics` (a test's own), ignoring ones already gone. */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}
