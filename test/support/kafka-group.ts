import type { ConsumerRunConfig, Kafka } from 'kafkajs';
import { withKafkaAdmin } from '@mmctr/kafka';

/**
 * Whether consumer group `groupId` has committed every message of `topics` (each partition's committed
 * offset at its high watermark). Ingest commits a batch only once all its stores took it, so a caught-up
 * ingest group has written everything produced so far.
 */
export async function groupCaughtUp(kafka: Kafka, groupId: string, topics: string[]): Promise<boolean> {
  return withKafkaAdmin(kafka, async (admin) => {
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const { topic, partitions } of committed) {
      const high = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
      // '-1': nothing committed yet, which is caught up only on an empty partition
      if (partitions.some((p) => Math.max(Number(p.offset), 0) < (high.get(p.partition) ?? 0))) return false;
    }
    return true;
  });
}

/** Deletes `topics` (a test's own), ignoring ones already gone. */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  return withKafkaAdmin(kafka, async (admin) => {
    await admin.deleteTopics({ topics }).catch(() => undefined);
  });
}

/** Deletes every topic whose name starts with `prefix` (a test's own namespace): entity topics included. */
export async function deleteTopicsStartingWith(kafka: Kafka, prefix: string): Promise<void> {
  return withKafkaAdmin(kafka, async (admin) => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics }).catch(() => undefined);
  });
}

/**
 * Reads `topic` from its start with a throw-away consumer group `<topic>-<purpose>-<now>` until the
 * handlers from `handlers(done)` call `done`, then waits `settleMs` (for unexpected extra messages) and
 * disconnects; rejects with `timeoutMessage()` when `done` is not called within `timeoutMs`.
 */
export async function consumeFromStart(
  kafka: Kafka,
  topic: string,
  purpose: string,
  options: { timeoutMs: number; timeoutMessage: () => string; settleMs?: number },
  handlers: (done: () => void) => Pick<ConsumerRunConfig, 'eachBatch' | 'eachMessage'>,
): Promise<void> {
  const consumer = kafka.consumer({
    groupId: `${topic}-${purpose}-${Date.now()}`,
    maxBytesPerPartition: 8 << 20,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(options.timeoutMessage())), options.timeoutMs);
      void consumer.run(
        handlers(() => {
          clearTimeout(timer);
          resolve();
        }),
      );
    });
    if (options.settleMs) await new Promise((r) => setTimeout(r, options.settleMs));
  } finally {
    await consumer.disconnect();
  }
}
