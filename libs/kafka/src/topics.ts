import type { Admin, Kafka, ITopicConfig } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';
import { withKafkaAdmin } from './kafka-admin';
import { retryForever } from './retry';

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
export async function ensureTopics(
  kafka: Kafka,
  topics: ITopicConfig[],
  timeoutMs = 30_000,
): Promise<string[]> {
  return withKafkaAdmin(kafka, async (admin) => {
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
    // One topic a call: the broker that listed them may lag behind the controller and call an existing
    // topic missing. kafkajs answers false for a call whose topics all exist, but throws for one that
    // mixes existing and new topics; alone, each topic is either created or found.
    const created: string[] = [];
    for (const t of missing) {
      if (await admin.createTopics({ topics: [t], waitForLeaders: false })) created.push(t.topic);
    }
    // kafkajs' own wait for leaders asks one broker, which on a cluster may not have heard of the new
    // topics yet (UNKNOWN_TOPIC_OR_PARTITION although they were created): wait here, asking again.
    await waitForLeaders(admin, missing, timeoutMs);
    return created;
  });
}

/** Partitions of `topics` that have no leader yet, or fewer partitions than declared; [] when all are led. */
export function leaderless(
  topics: readonly ITopicConfig[],
  meta: { topics: { name: string; partitions: { partitionId: number; leader: number }[] }[] },
): string[] {
  const byName = new Map(meta.topics.map((t) => [t.name, t.partitions]));
  return topics.flatMap((t) => {
    const parts = byName.get(t.topic) ?? [];
    const want = t.numPartitions ?? parts.length;
    const led = new Set(parts.filter((p) => p.leader >= 0).map((p) => p.partitionId));
    return Array.from({ length: Math.max(want, parts.length, 1) }, (_, i) => i)
      .filter((i) => !led.has(i))
      .map((i) => `${t.topic}/${i}`);
  });
}

async function waitForLeaders(
  admin: Admin,
  topics: readonly ITopicConfig[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await retryForever(
    async () => {
      const meta = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
      const missing = leaderless(topics, meta);
      if (missing.length) throw new Error(`no leader yet for ${missing.slice(0, 5).join(', ')}`);
    },
    { initialMs: 100, maxMs: 1_000, giveUp: () => Date.now() >= deadline },
  ).catch((err: unknown) => {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`topics created, but not all led within ${timeoutMs} ms: ${why}`);
  });
}
