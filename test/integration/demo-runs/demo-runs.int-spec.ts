import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { loadConfig } from '@mmctr/config';
import { createKafka, ensureTopics, withKafkaAdmin } from '@mmctr/kafka';
import { createRedis } from '@mmctr/online-store';
import { demoRunEnv } from '../../../tools/cli/src/commands/demo-runs';
import { deleteTopics } from '../../support/kafka-group';
import { mmctrCli } from '../../support/mmctr-cli';

// A namespace of this suite's own, so that no real demo run's state is touched.
const NS = `demoit${Date.now().toString(36)}`;
const RUNS = ['100', '200', 'now'];
const topicsOf = (run: string) => {
  const e = demoRunEnv(run, NS);
  return [e.KAFKA_TOPIC_EVENTS!, e.KAFKA_TOPIC_ITEMS!, e.KAFKA_TOPIC_DLQ!, e.KAFKA_TOPIC_SCORES!];
};

describe('mmctr demo-run prune on the real Kafka and Redis', () => {
  const config = loadConfig();
  let kafka: Kafka;
  let redis: Redis;

  const existingTopics = () =>
    withKafkaAdmin(kafka, async (admin) => (await admin.listTopics()).filter((t) => t.includes(NS)).sort());
  const existingGroups = () =>
    withKafkaAdmin(kafka, async (admin) =>
      (await admin.listGroups()).groups
        .map((g) => g.groupId)
        .filter((g) => g.includes(NS))
        .sort(),
    );
  const keys = async () => (await redis.keys(`*${NS}*`)).sort();

  beforeAll(async () => {
    kafka = createKafka(config);
    redis = createRedis(config);
    await ensureTopics(
      kafka,
      RUNS.flatMap(topicsOf).map((topic) => ({ topic, numPartitions: 1 })),
    );
    // A consumer group exists once it has committed offsets.
    await withKafkaAdmin(kafka, async (admin) => {
      for (const run of RUNS) {
        const e = demoRunEnv(run, NS);
        await admin.setOffsets({
          groupId: e.INGEST_GROUP_ID!,
          topic: e.KAFKA_TOPIC_EVENTS!,
          partitions: [{ partition: 0, offset: '0' }],
        });
      }
    });
    for (const run of RUNS) {
      const e = demoRunEnv(run, NS);
      await redis.set(`${e.REDIS_KEY_PREFIX}hist:u1`, 'x');
      await redis.set(`${e.BULLMQ_PREFIX}:item-embeddings:1`, 'x');
    }
    await redis.set(`mmctr-other-${NS}:hist:u1`, 'x');
  }, 60_000);

  afterAll(async () => {
    await withKafkaAdmin(kafka, (admin) =>
      admin.deleteGroups([demoRunEnv('now', NS).INGEST_GROUP_ID!]).catch(() => undefined),
    );
    await deleteTopics(kafka, topicsOf('now'));
    await redis.del(...(await keys()));
    redis.disconnect();
  });

  it("deletes the earlier runs' topics, consumer groups and Redis keys, keeping the current run's and others'", async () => {
    expect(await existingGroups()).toHaveLength(3);
    const out = await mmctrCli(['demo-run', 'prune', '--keep', 'now', '--namespace', NS]);
    expect(JSON.parse(out)).toEqual({ runs: ['100', '200'], topics: 8, groups: 2, redis_keys: 4 });

    expect(await existingTopics()).toEqual([...topicsOf('now')].sort());
    expect(await existingGroups()).toEqual([demoRunEnv('now', NS).INGEST_GROUP_ID]);
    const now = demoRunEnv('now', NS);
    expect(await keys()).toEqual(
      [
        `${now.BULLMQ_PREFIX}:item-embeddings:1`,
        `${now.REDIS_KEY_PREFIX}hist:u1`,
        `mmctr-other-${NS}:hist:u1`,
      ].sort(),
    );

    // Nothing is left to prune.
    const again = await mmctrCli(['demo-run', 'prune', '--keep', 'now', '--namespace', NS]);
    expect(JSON.parse(again)).toEqual({ runs: [], topics: 0, groups: 0, redis_keys: 0 });
  });

  it('refuses a run id that could not be told apart from its neighbours', async () => {
    await expect(mmctrCli(['demo-run', 'prune', '--keep', 'a-b', '--namespace', NS])).rejects.toThrow(
      /--keep must be letters, digits or _, got 'a-b'/,
    );
  });
});
