import type { Kafka, ITopicConfig } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';

/** The platform's topics. Created here, never by broker auto-create. */
export function platformTopics(config: AppConfig): ITopicConfig[] {
  const retention = (days: number) => [{ name: 'retention.ms', value: String(days * 86_400_000) }];
  return [
    { topic: config.KAFKA_TOPIC_EVENTS, numPartitions: 4, replicationFactor: 1, configEntries: retention(7) },
    { topic: config.KAFKA_TOPIC_ITEMS, numPartitions: 2, replicationFactor: 1, configEntries: retention(30) },
    { topic: config.KAFKA_TOPIC_DLQ, numPartitions: 1, replicationFactor: 1, configEntries: retention(30) },
    { topic: config.KAFKA_TOPIC_SCORES, numPartitions: 4, replicationFactor: 1, configEntries: retention(7) },
  ];
}

/** Creates the topics that do not exist yet; returns the names it created. */
export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
