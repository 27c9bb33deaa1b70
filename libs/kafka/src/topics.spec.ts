import { leaderless, platformTopics, TopicConfigError } from './topics';

const names = {
  KAFKA_TOPIC_EVENTS: 'ev',
  KAFKA_TOPIC_ITEMS: 'it',
  KAFKA_TOPIC_DLQ: 'dlq',
  KAFKA_TOPIC_SCORES: 'sc',
};

describe('platformTopics', () => {
  it('on one broker: one replica, the broker default for min.insync.replicas', () => {
    const topics = platformTopics({
      ...names,
      KAFKA_REPLICATION_FACTOR: 1,
      KAFKA_MIN_INSYNC_REPLICAS: undefined,
    });
    expect(topics.map((t) => [t.topic, t.numPartitions, t.replicationFactor])).toEqual([
      ['ev', 4, 1],
      ['it', 2, 1],
      ['dlq', 1, 1],
      ['sc', 4, 1],
    ]);
    expect(topics.flatMap((t) => t.configEntries ?? []).map((e) => e.name)).not.toContain(
      'min.insync.replicas',
    );
  });

  it('on a cluster: every topic replicated with its min.insync.replicas', () => {
    const topics = platformTopics({ ...names, KAFKA_REPLICATION_FACTOR: 3, KAFKA_MIN_INSYNC_REPLICAS: 2 });
    for (const t of topics) {
      expect(t.replicationFactor).toBe(3);
      expect(t.configEntries).toContainEqual({ name: 'min.insync.replicas', value: '2' });
      expect(t.configEntries?.map((e) => e.name)).toContain('retention.ms');
    }
  });

  it('refuses more in-sync replicas than replicas', () => {
    expect(() =>
      platformTopics({ ...names, KAFKA_REPLICATION_FACTOR: 2, KAFKA_MIN_INSYNC_REPLICAS: 3 }),
    ).toThrow(
      new TopicConfigError(
        'KAFKA_MIN_INSYNC_REPLICAS (3) must not exceed KAFKA_REPLICATION_FACTOR (2): no write could succeed',
      ),
    );
  });
});

describe('leaderless', () => {
  const topics = [
    { topic: 'a', numPartitions: 2 },
    { topic: 'b', numPartitions: 1 },
  ];
  const led = (partitionId: number, leader = 1) => ({ partitionId, leader });

  it('is empty once every declared partition has a leader', () => {
    expect(
      leaderless(topics, {
        topics: [
          { name: 'a', partitions: [led(0), led(1)] },
          { name: 'b', partitions: [led(0)] },
        ],
      }),
    ).toEqual([]);
  });

  it('names partitions without a leader, missing from the metadata, or of a topic not known yet', () => {
    expect(leaderless(topics, { topics: [{ name: 'a', partitions: [led(0, -1)] }] })).toEqual([
      'a/0',
      'a/1',
      'b/0',
    ]);
  });
});
