// Ingest across a Kafka broker crash: a broker of this test's own (not the shared stack's) is
// SIGKILLed mid-stream and restarted on the same data; ingest (a child process) must end with every
// event stored exactly once.
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { createKafka, EventProducer } from '@mmctr/kafka';
import { createRedis } from '@mmctr/online-store';
import type { ClickHouseService } from '@mmctr/clickhouse';
import type { BehaviourEvent } from '@mmctr/contracts';
import { testClickHouse, testConfig } from '../../support/clients';
import { makeEvents } from '../../support/ingest/events';
import { cleanup, createTestTopics, isolatedNames } from '../../support/ingest/fixtures';
import { IngestProcess, sleep } from '../../support/ingest/ingest-process';
import { dedupCounts as dedupCountsOf } from '../../support/ingest/suite';
import { ThrowawayKafka } from '../../support/ingest/throwaway-kafka';

jest.setTimeout(600_000);

describe('ingest across a broker crash', () => {
  const broker = new ThrowawayKafka();
  const names = isolatedNames('ingest-broker-restart');
  let kafka: Kafka;
  let redis: Redis;
  let clickhouse: ClickHouseService;
  let ingest: IngestProcess | undefined;

  beforeAll(async () => {
    await broker.setUp();
    await broker.start();
    kafka = createKafka({ KAFKA_BROKERS: [broker.brokers], KAFKA_CLIENT_ID: 'mmctr-test' });
    redis = createRedis(testConfig());
    clickhouse = testClickHouse();
  });

  afterAll(async () => {
    await ingest?.stop();
    try {
      await cleanup(kafka, redis, names); // while the broker still answers
    } finally {
      await broker.tearDown();
      redis.disconnect();
    }
    await clickhouse.close();
  });

  const dedupCounts = () => dedupCountsOf(clickhouse, names.prefix);

  /** Produces `events` in chunks; a chunk that fails (broker down) is sent again with a new producer. */
  async function stream(events: BehaviourEvent[], chunk: number, pauseMs: number) {
    const producerFor = () =>
      new EventProducer(kafka, {
        eventsTopic: names.env.KAFKA_TOPIC_EVENTS,
        itemsTopic: names.env.KAFKA_TOPIC_ITEMS,
      });
    let producer = producerFor();
    for (let i = 0; i < events.length;) {
      try {
        await producer.sendEvents(events.slice(i, i + chunk));
        i += chunk;
        await sleep(pauseMs);
      } catch {
        await producer.close().catch(() => undefined);
        await sleep(1_000);
        producer = producerFor();
      }
    }
    await producer.close();
  }

  it('stores every event exactly once when the broker is killed and restarted mid-stream', async () => {
    await createTestTopics(kafka, testConfig(), names);
    const n = 20_000;
    const events = makeEvents(names.prefix, n, 300, 31);
    ingest = await IngestProcess.start({ ...names.env, KAFKA_BROKERS: broker.brokers, LOG_LEVEL: 'info' });
    const producing = stream(events, 500, 100);
    await ingest.waitFor(async () => (await dedupCounts()).distinct > 0, 'first rows');

    await broker.kill();
    const atKill = (await dedupCounts()).distinct;
    expect(atKill).toBeLessThan(n); // it really was mid-stream
    await sleep(5_000);
    await broker.start();

    await producing;
    await ingest.waitFor(async () => (await dedupCounts()).distinct >= n, 'all events stored', 300_000);
    expect(await dedupCounts()).toEqual({ rows: n, distinct: n });
    await ingest.waitFor(
      async () => (await fetch(`${ingest!.url}/health/ready`)).status === 200,
      'ready after the restart',
    );
  });
});
