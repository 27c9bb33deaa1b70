import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import type { ClickHouseService } from '@mmctr/clickhouse';
import { createKafka, EventProducer } from '@mmctr/kafka';
import { createRedis } from '@mmctr/online-store';
import { testClickHouse, testConfig } from '../clients';
import { cleanup, createTestTopics, isolatedNames, type IsolatedNames } from './fixtures';
import { IngestProcess } from './ingest-process';
import { TestDatabase } from './test-database';

/** The de-duplicated events of users `prefix*`: how many rows, how many distinct ids. */
export async function dedupCounts(
  clickhouse: ClickHouseService,
  prefix: string,
): Promise<{ rows: number; distinct: number }> {
  const [row] = await clickhouse.query<{ rows: string; distinct: string }>(
    'SELECT count() AS rows, uniqExact(event_id) AS distinct FROM events_dedup WHERE user_id LIKE {p:String}',
    { p: `${prefix}%` },
  );
  return { rows: Number(row?.rows), distinct: Number(row?.distinct) };
}

/**
 * The hooks every ingest acceptance suite shares, registered in the calling describe(): clients of the
 * shared stack; per test, isolated names with their topics, producers, ClickHouse databases and ingest
 * processes, all stopped after each test and removed after the suite.
 */
export function ingestSuite() {
  const config = testConfig();
  const running: IngestProcess[] = [];
  const producers: EventProducer[] = [];
  const used: IsolatedNames[] = [];
  const databases: TestDatabase[] = [];
  let kafka!: Kafka;
  let redis!: Redis;
  let clickhouse!: ClickHouseService;

  beforeAll(() => {
    kafka = createKafka(config);
    redis = createRedis(config);
    clickhouse = testClickHouse();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    await Promise.all(producers.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    for (const names of used) await cleanup(kafka, redis, names).catch(() => undefined);
    for (const db of databases) await db.drop();
    redis.disconnect();
    await clickhouse.close();
  });

  return {
    config,
    kafka: () => kafka,
    redis: () => redis,
    clickhouse: () => clickhouse,

    /** Names of this test's own, with its topics created. */
    names: async (tag: string): Promise<IsolatedNames> => {
      const names = isolatedNames(tag);
      used.push(names);
      await createTestTopics(kafka, config, names);
      return names;
    },

    /** A producer on the test's topics (it can also send raw bytes the SDK would refuse). */
    producer: (names: IsolatedNames): EventProducer => {
      const producer = new EventProducer(kafka, {
        eventsTopic: names.env.KAFKA_TOPIC_EVENTS,
        itemsTopic: names.env.KAFKA_TOPIC_ITEMS,
      });
      producers.push(producer);
      return producer;
    },

    /** An empty ClickHouse database of the test's own (migrate it, or alter it first). */
    database: async (): Promise<TestDatabase> => {
      const db = new TestDatabase();
      databases.push(db);
      await db.create();
      return db;
    },

    /** apps/ingest as a child process on the test's names. */
    startIngest: async (names: IsolatedNames, extra: Record<string, string> = {}): Promise<IngestProcess> => {
      const p = await IngestProcess.start({ ...names.env, LOG_LEVEL: 'info', ...extra });
      running.push(p);
      return p;
    },
  };
}
