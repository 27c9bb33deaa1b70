import type { Kafka } from 'kafkajs';
import { createKafka, ensureTopics, withKafkaAdmin } from '@mmctr/kafka';
import { testConfig, uniqueName } from '../support/clients';
import { deleteTopics } from '../support/kafka-group';

describe('Kafka broker round trip (kafkajs)', () => {
  let kafka: Kafka;
  beforeAll(() => {
    kafka = createKafka(testConfig());
  });

  it('creates a topic, produces keyed messages and consumes every one in partition order', async () => {
    const topic = uniqueName('mmctr.test.roundtrip');
    expect(await ensureTopics(kafka, [{ topic, numPartitions: 3, replicationFactor: 1 }])).toEqual([topic]);
    expect(await ensureTopics(kafka, [{ topic, numPartitions: 3, replicationFactor: 1 }])).toEqual([]);

    const sent = Array.from({ length: 500 }, (_, i) => ({
      key: `user-${i % 17}`,
      value: JSON.stringify({ i }),
    }));
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, messages: sent });
    await producer.disconnect();

    const received: { key: string; i: number; partition: number }[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName('mmctr-test') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          received.push({
            key: message.key!.toString(),
            i: (JSON.parse(message.value!.toString()) as { i: number }).i,
            partition,
          });
          if (received.length === sent.length) resolve();
        },
      });
    });
    await done;
    await consumer.disconnect();

    expect(received.map((r) => r.i).sort((a, b) => a - b)).toEqual(sent.map((_, i) => i));
    // Same key -> same partition, and order within a key is kept.
    const byKey = new Map<string, { partitions: Set<number>; order: number[] }>();
    for (const r of received) {
      const e = byKey.get(r.key) ?? { partitions: new Set(), order: [] };
      e.partitions.add(r.partition);
      e.order.push(r.i);
      byKey.set(r.key, e);
    }
    for (const e of byKey.values()) {
      expect(e.partitions.size).toBe(1);
      expect(e.order).toEqual([...e.order].sort((a, b) => a - b));
    }
    await deleteTopics(kafka, [topic]);
  });

  it('has the platform topics and no auto-created ones', async () => {
    const topics = await withKafkaAdmin(kafka, (admin) => admin.listTopics());
    const c = testConfig();
    expect(topics).toEqual(
      expect.arrayContaining([
        c.KAFKA_TOPIC_EVENTS,
        c.KAFKA_TOPIC_ITEMS,
        c.KAFKA_TOPIC_DLQ,
        c.KAFKA_TOPIC_SCORES,
      ]),
    );
    const producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    await producer.connect();
    await expect(
      producer.send({ topic: uniqueName('mmctr.test.nonexistent'), messages: [{ value: 'x' }] }),
    ).rejects.toThrow();
    await producer.disconnect();
  });
});
