// The ingest pipeline's store path against the real ClickHouse, Kafka and Redis, fed rows directly
// (no contract validation in front): whatever row the server refuses is isolated, dead-lettered with
// the server's code and message, and kept out of Redis, while every other row is stored.
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { ClickHouseService } from '@mmctr/clickhouse';
import { DLQ_HEADERS, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
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
    pipeline = new IngestPipeline(
      config,
      createLogger('ingest', 'silent'),
      metrics,
      new IngestRepository(clickhouse),
      dlq,
      new IngestOnlineRepository(redis, store, queue),
      new FlowControl(),
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

  it('stores every other item, dead-letters the refused ones with the ClickHouse code and keeps them out of Redis', async () => {
    const item = (i: number, title: string): CatalogueItem => ({
      schema_version: 1,
      item_id: `${names.prefix}item${i}`,
      ts_ms: Date.UTC(2026, 0, 1) + i,
      title,
    });
    // A lone surrogate: JSON.stringify escapes it as \ud800, which ClickHouse refuses (Code 25).
    const first = Array.from({ length: 300 }, (_, i) => item(i, i === 137 ? 'bad \ud800 title' : `t${i}`));
    const second = Array.from({ length: 200 }, (_, i) =>
      item(300 + i, i === 5 ? 'tail \udbff' : `t${300 + i}`),
    );
    const result = await pipeline.storeItems([
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
      expect(l.headers[DLQ_HEADERS.reason]).toMatch(
        /^clickhouse: items insert refused the row \(Code 25\): /,
      );
      expect(l.headers[DLQ_ENVELOPE_HEADERS.errorCode]).toBe('25');
      expect((JSON.parse(l.value) as CatalogueItem).item_id).toBe(`${names.prefix}item${id}`);
    }

    // Redis holds exactly what ClickHouse holds.
    const ids = [...first, ...second].map((i) => i.item_id);
    const features = await store.getItems(ids);
    const missing = ids.filter((_, i) => !features[i]);
    expect(missing).toEqual([`${names.prefix}item137`, `${names.prefix}item305`]);
    expect(await metrics.rejected.get()).toMatchObject({
      values: [{ value: 2, labels: { table: 'items' } }],
    });
  });

  it('stores a clean event flush in one insert and leaves nothing for the DLQ', async () => {
    const events: BehaviourEvent[] = makeEvents(`${names.prefix}ev-`, 2_000, 50, 3);
    const result = await pipeline.storeEvents([chunk(names.env.KAFKA_TOPIC_EVENTS, 0, 0, events)]);
    expect(result).toMatchObject({ rows: 2_000, rejected: 0 });
    const [row] = await clickhouse.query<{ n: string }>(
      'SELECT uniqExact(event_id) AS n FROM events WHERE user_id LIKE {p:String}',
      { p: `${names.prefix}ev-%` },
    );
    expect(Number(row?.n)).toBe(2_000);
  });
});
