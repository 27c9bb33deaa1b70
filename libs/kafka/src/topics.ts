import type { Kafka, ITopicConfig } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';

export class TopicConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicConfigError';
  }
}

type TopicSettings = Pick<
  AppConfig,
  | 'KAFKA_TOPIC_EVENTS'
  | 'KAFKA_TOPIC_ITEMS'
  | 'KAFKA_TOPIC_DLQ'
  | 'KAFKA_TOPIC_SCORES'
  | 'KAFKA_REPLICATION_FACTOR'
  | 'KAFKA_MIN_INSYNC_REPLICAS'
>;

/**
 * The platform's topics. Created here, never by broker auto-create. Each has KAFKA_REPLICATION_FACTOR
 * replicas; with KAFKA_MIN_INSYNC_REPLICAS, a write (acks=all) needs that many of them, so a broker
 * can fail without losing an acknowledged event.
 */
export function platformTopics(config: TopicSettings): ITopicConfig[] {
  const rf = config.KAFKA_REPLICATION_FACTOR;
  const isr = config.KAFKA_MIN_INSYNC_REPLICAS;
  if (isr !== undefined && isr > rf) {
    throw new TopicConfigError(
      `KAFKA_MIN_INSYNC_REPLICAS (${isr}) must not exceed KAFKA_REPLICATION_FACTOR (${rf}): no write could succeed`,
    );
  }
  const entries = (days: number) => [
    { name: 'retention.ms', value: String(days * 86_400_000) },
    ...(isr === undefined ? [] : [{ name: 'min.insync.replicas', value: String(isr) }]),
  ];
  return [
    { topic: config.KAFKA_TOPIC_EVENTS, numPartitions: 4, replicationFactor: rf, configEntries: entries(7) },
    { topic: config.KAFKA_TOPIC_ITEMS, numPartitions: 2, replicationFactor: rf, configEntries: entries(30) },
    { topic: config.KAFKA_TOPIC_DLQ, numPartitions: 1, replicationFactor: rf, configEntries: entries(30) },
    { topic: config.KAFKA_TOPIC_SCORES, numPartitions: 4, replicationFactor: rf, configEntries: entries(7) },
  ];
}

/**
 * Creates the topics that do not exist yet; returns the names it created. A replication factor above
 * the number of brokers is refused with the counts (the broker's own error does not say them).
 */
export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return [];
    const { brokers } = await admin.describeCluster();
    const tooMany = missing.find((t) => (t.replicationFactor ?? 1) > brokers.length);
    if (tooMany) {
      throw new TopicConfigError(
        `topic ${tooMany.topic}: replication factor ${tooMany.replicationFactor} needs at least as many ` +
          `brokers, the cluster has ${brokers.length} (set KAFKA_REPLICATION_FACTOR)`,
      );
    }
    await admin.createTopics({ topics: missing, waitForLeaders: true });
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
