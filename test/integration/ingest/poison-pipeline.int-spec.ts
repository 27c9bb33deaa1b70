// The ingest pipeline's store path against the real ClickHouse, Kafka and Redis, fed records directly
// (no contract validation in front): whatever row the encoder or the server refuses is isolated,
// dead-lettered with the reason, and kept out of Redis, while every other row is stored.
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { ClickHouseService } from '@mmctr/clickhouse';
import { DLQ_HEADERS, type CatalogueItem } from '@mmctr/contracts';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo, type NormalisedRecord } from '@mmctr/feature-repo';
import { createKafka, DLQ_ENVELOPE_HEADERS } from '@mmctr/kafka';
import { ItemEmbeddingQueue, OnlineStore, createRedis } from '@mmctr/online-store';
import type { AppConfig } from '@mmctr/config';
import { createLogger } from '@mmctr/observability';
import {
  DeadLetterRepository,
  FlowControl,
  IngestMetrics,
  IngestOnlineRepository,
  IngestPipeline,
  IngestRepository,
  loadIngestSchema,
  type EntityStream,
  type PartitionChunk,
} from '@mmctr/ingest';
import { testClickHouse, testConfig } from '../../support/clients';
import { makeEvents } from '../../support/ingest/events';
import { cleanup, createTestTopics, isolatedNames } from '../../support/ingest/fixtures';
import { readTopic } from '../../support/ingest/read-topic';

describe('ingest pipeline: rows ClickHouse refuses', () => {
  const names = isolatedNames('ingest-poison-pipeline');
  const config: AppConfig = { ...testConfig(), ...names.env };
  let kafka: Kafka;
  let redis: Redis;
  let clickhouse: ClickHouseService;
  let queue: ItemEmbeddingQueue;
  let dlq: DeadLetterRepository;
  let pipeline: IngestPipeline;
  let store: OnlineStore;
  let metrics: IngestMetrics;
  let items: EntityStream;

  beforeAll(async () => {
    kafka = createKafka(config);
    redis = createRedis(config);
    clickhouse = testClickHouse();
    await createTestTopics(kafka, config, names);
    store = new OnlineStore(redis, {
      keyPrefix: names.env.REDIS_KEY_PREFIX,
      types: ['click'],
      cap: 100,
      historyTtlS: 0,
    });
    queue = new ItemEmbeddingQueue(redis.duplicate(), { name: names.env.EMBEDDINGS_QUEUE });
    dlq = new DeadLetterRepository(kafka, config);
    metrics = new IngestMetrics();
    const tables = new IngestRepository(clickhouse, config);
    const schema = await loadIngestSchema(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH), config, (t) =>
      tables.columns(t),
    );
    items = schema.entities.find((s) => s.catalogue)!;
    pipeline = new IngestPipeline(
      config,
      createLogger('ingest', 'silent'),
      metrics,
      tables,
      dlq,
      new IngestOnlineRepository(redis, store, queue),
      new FlowControl(),
      schema,
    );
  });

  afterAll(async () => {
    await dlq.disconnect();
    await queue.close();
    await (await queue.queue.client).quit();
    await cleanup(kafka, redis, names);
    redis.disconnect();
    await clickhouse.close();
  });

  const chunk = <T>(topic: string, partition: number, first: number, valid: T[]): PartitionChunk<T> => ({
    topic,
    partition,
    firstOffset: String(first),
    lastOffset: String(first + valid.length - 1),
    generation: 1,
    valid,
    validOffsets: valid.map((_, i) => String(first + i)),
    invalid: [],
  });

  it('stores every other item, dead-letters the ones the encoder refuses and keeps them out of Redis', async () => {
    const item = (i: number, bad: boolean): NormalisedRecord => ({
      schema_version: 1,
      item_id: `${names.prefix}item${i}`,
      // A negative time fits no UInt64 ts_ms column: the row's own fault.
      ts_ms: bad ? -1 : Date.UTC(2026, 0, 1) + i,
      title: `t${i}`,
      description: '',
      category: '',
      tags: [],
      image: '',
    });
    const first = Array.from({ length: 300 }, (_, i) => item(i, i === 137));
    const second = Array.from({ length: 200 }, (_, i) => item(300 + i, i === 5));
    const result = await pipeline.storeEntities(items, [
      chunk(names.env.KAFKA_TOPIC_ITEMS, 0, 1_000, first),
      chunk(names.env.KAFKA_TOPIC_ITEMS, 1, 50, second),
    ]);
    expect(result).toMatchObject({ rows: 498, rejected: 2, invalid: 0 });

    const [stored] = await clickhouse.query<{ n: string }>(
      'SELECT count() AS n FROM items FINAL WHERE item_id LIKE {p:String}',
      { p: `${names.prefix}%` },
    );
    expect(Number(stored?.n)).toBe(498);

    const letters = await readTopic(kafka, names.env.KAFKA_TOPIC_DLQ, 2);
    const byOffset = new Map(letters.map((l) => [l.headers[DLQ_HEADERS.offset], l]));
    expect([...byOffset.keys()].sort()).toEqual(['1137', '55']);
    for (const [offset, partition, id] of [
      ['1137', '0', 137],
      ['55', '1', 305],
    ] as const) {
      const l = byOffset.get(offset)!;
      expect(l.headers[DLQ_HEADERS.partition]).toBe(partition);
      expect(l.headers[DLQ_HEADERS.topic]).toBe(names.env.KAFKA_TOPIC_ITEMS);
      expect(l.headers[DLQ_HEADERS.reason]).toBe(
        'clickhouse: items insert refused the row: UInt64 needs a safe non-negative integer: -1',
      );
      expect(l.headers[DLQ_ENVELOPE_HEADERS.errorCode]).toBeUndefined();
      expect((JSON.parse(l.value) as CatalogueItem).item_id).toBe(`${names.prefix}item${id}`);
    }

    // Redis holds exactly what ClickHouse holds.
    const ids = [...first, ...second].map((i) => i.item_id as string);
    const features = await store.getItems(ids);
    const missing = ids.filter((_, i) => !features[i]);
    expect(missing).toEqual([`${names.prefix}item137`, `${names.prefix}item305`]);
    expect(await metrics.rejected.get()).toMatchObject({
      values: [{ value: 2, labels: { table: 'items' } }],
    });
  });

  it('stores a clean event flush in one insert and leaves nothing for the DLQ', async () => {
    const events = makeEvents(`${names.prefix}ev-`, 2_000, 50, 3).map(({ context, ...e }) => ({
      position: 0,
      value: 0,
      ...e,
      ...context,
    }));
    const result = await pipeline.storeEvents([chunk(names.env.KAFKA_TOPIC_EVENTS, 0, 0, events)]);
    expect(result).toMatchObject({ rows: 2_000, rejected: 0 });
    const [row] = await clickhouse.query<{ n: string }>(
      'SELECT uniqExact(event_id) AS n FROM events WHERE user_id LIKE {p:String}',
      { p: `${names.prefix}ev-%` },
    );
    expect(Number(row?.n)).toBe(2_000);
  });
});
