import { randomBytes } from 'node:crypto';
import { ConfigResourceTypes } from 'kafkajs';
import { loadConfig } from '@mmctr/config';
import { EventProducer, TopicConfigError, createKafka, ensureTopics, platformTopics } from '@mmctr/kafka';
import { waitFor } from '../../apps/scorer/test/support/scorer-harness';

/** The platform topics on the 3-broker cluster: replicated 3 times, 2 in-sync replicas per write. */
describe('platform topics on the Kafka cluster', () => {
  const config = loadConfig();
  const tag = `${Date.now()}_${randomBytes(3).toString('hex')}`;
  const topics = platformTopics({
    ...config,
    KAFKA_TOPIC_EVENTS: `cl.events.${tag}`,
    KAFKA_TOPIC_ITEMS: `cl.items.${tag}`,
    KAFKA_TOPIC_DLQ: `cl.dlq.${tag}`,
    KAFKA_TOPIC_SCORES: `cl.scores.${tag}`,
  });
  const names = topics.map((t) => t.topic);
  const kafka = createKafka(config);
  const admin = kafka.admin();

  beforeAll(async () => {
    expect(config.KAFKA_REPLICATION_FACTOR).toBe(3);
    await admin.connect();
  });
  afterAll(async () => {
    await admin.deleteTopics({ topics: names }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates every topic with 3 replicas in sync and min.insync.replicas 2', async () => {
    expect(await ensureTopics(kafka, topics)).toEqual(names);
    // The broker asked may not have the new topics' metadata yet ("does not host this topic-partition"),
    // and followers join the in-sync set once they have caught up: ask until all three replicas are in.
    const meta = await waitFor('every partition with its 3 replicas in sync', async () => {
      const m = await admin.fetchTopicMetadata({ topics: names });
      return m.topics.every((t) => t.partitions.every((p) => p.isr.length === 3)) && m;
    });
    for (const t of meta.topics) {
      for (const p of t.partitions) {
        expect(p.replicas).toHaveLength(3);
        expect(p.isr).toHaveLength(3);
      }
    }
    // describeConfigs goes to a broker of the client's choosing, which may not have the metadata yet
    // either: asked again until it answers for every topic.
    const described = await waitFor("every topic's configuration", () =>
      admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['min.insync.replicas'],
        })),
      }),
    );
    for (const r of described.resources) {
      expect(r.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue).toBe('2');
    }
    // A second run finds them all.
    expect(await ensureTopics(kafka, topics)).toEqual([]);
  });

  it('acknowledges producer writes once the in-sync replicas have them (acks=all)', async () => {
    const producer = new EventProducer(kafka, { eventsTopic: names[0]!, itemsTopic: names[1]! });
    try {
      await producer.sendRaw(names[0]!, [{ key: 'u1', value: 'x' }]);
    } finally {
      await producer.close();
    }
    const offsets = await admin.fetchTopicOffsets(names[0]!);
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(1);
  });

  it('refuses a replication factor above the number of brokers, naming both', async () => {
    const [one] = platformTopics({
      ...config,
      KAFKA_TOPIC_EVENTS: `cl.rf4.${tag}`,
      KAFKA_REPLICATION_FACTOR: 4,
    });
    await expect(ensureTopics(kafka, [one!])).rejects.toThrow(
      new TopicConfigError(
        `topic cl.rf4.${tag}: replication factor 4 needs at least as many brokers, the cluster has 3 (set KAFKA_REPLICATION_FACTOR)`,
      ),
    );
  });
});
