// Poison isolation and truthful readiness of apps/ingest, run as a child process against the real
// Kafka, ClickHouse and Redis. Each test has its own topics, group, Redis prefix and ClickHouse
// database (they alter or withhold tables).
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { DLQ_HEADERS, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import { DLQ_ENVELOPE_HEADERS, withKafkaAdmin } from '@mmctr/kafka';
import { OnlineStore } from '@mmctr/online-store';
import { makeEvents } from '../../support/ingest/events';
import type { IsolatedNames } from '../../support/ingest/fixtures';
import type { IngestProcess } from '../../support/ingest/ingest-process';
import { readTopic } from '../../support/ingest/read-topic';
import { dedupCounts as dedupCountsOf, ingestSuite } from '../../support/ingest/suite';
import type { TestDatabase } from '../../support/ingest/test-database';

jest.setTimeout(600_000);

// The broker's message.max.bytes (deploy/local/kafka/server.properties.tmpl).
const BROKER_MAX_MESSAGE_BYTES = 2_097_152;

describe('ingest poison isolation and readiness', () => {
  const suite = ingestSuite();
  let kafka: Kafka;
  let redis: Redis;

  beforeAll(() => {
    kafka = suite.kafka();
    redis = suite.redis();
  });

  /** Isolated names, a migrated database and a raw producer. */
  async function setUp(tag: string) {
    const names = await suite.names(tag);
    const db = await suite.database();
    await db.migrate();
    // Contract validation is on the consumer side; the producer sends raw bytes in these tests.
    return { names, db, producer: suite.producer(names) };
  }

  /** Store retries given up on after 2 s, retried at most a second apart: the failure paths show fast. */
  const QUICK_RETRIES = { INGEST_STORE_RETRY_DEADLINE_MS: '2000', INGEST_RETRY_MAX_MS: '1000' };
  const startIngest = (names: IsolatedNames, db: TestDatabase, extra: Record<string, string> = {}) =>
    suite.startIngest(names, { CLICKHOUSE_DATABASE: db.name, ...extra });

  const dedupCounts = (db: TestDatabase, prefix: string) => dedupCountsOf(db.clickhouse, prefix);

  const ready = async (p: IngestProcess) => {
    const res = await fetch(`${p.url}/health/ready`);
    return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean }> } };
  };

  it('isolates a row its table cannot hold and a ~2 MiB event amid 10,000 valid ones and keeps consuming', async () => {
    const { names, db, producer } = await setUp('ingest-poison');
    // A column stricter than the contract: stands for any row its table cannot hold though the
    // contract accepts it (the encoder, writing by the actual column type, refuses it).
    await db.command(`ALTER TABLE ${db.name}.items MODIFY COLUMN category FixedString(8)`);

    const events = makeEvents(names.prefix, 11_000, 400, 21);
    const item = (id: string, category: string): CatalogueItem => ({
      schema_version: 1,
      item_id: `${names.prefix}${id}`,
      ts_ms: Date.UTC(2026, 0, 1),
      title: id,
      category,
    });
    const poisonItem = item('poison', 'a-category-longer-than-eight-bytes');
    // As large as the broker takes (it has to fit with its record framing), so that a dead-letter
    // copy of it with reason and origin headers would not.
    const bigValue = JSON.stringify({
      ...events[0]!,
      event_id: `${names.prefix}big`,
      request_id: 'x'.repeat(BROKER_MAX_MESSAGE_BYTES - 400),
    });
    expect(Buffer.byteLength(bigValue)).toBeGreaterThan(BROKER_MAX_MESSAGE_BYTES - 200);

    await producer.sendEvents(events.slice(0, 5_000));
    await producer.sendItems([item('good-1', 'c'), poisonItem, item('good-2', 'd')]);
    await producer.sendRaw(names.env.KAFKA_TOPIC_EVENTS, [{ key: 'k', value: bigValue }]);
    await producer.sendEvents(events.slice(5_000, 10_000));

    const ingest = await startIngest(names, db);
    await ingest.waitFor(
      async () => (await dedupCounts(db, names.prefix)).distinct >= 10_000,
      'the 10,000 valid events stored',
    );
    // Consumption goes on past both poison messages.
    await producer.sendEvents(events.slice(10_000));
    await ingest.waitFor(
      async () => (await dedupCounts(db, names.prefix)).distinct >= 11_000,
      'the later events stored',
    );
    expect(await dedupCounts(db, names.prefix)).toEqual({ rows: 11_000, distinct: 11_000 });

    const letters = await readTopic(kafka, names.env.KAFKA_TOPIC_DLQ, 2);
    expect(letters).toHaveLength(2);
    const refused = letters.find((l) => l.headers[DLQ_HEADERS.topic] === names.env.KAFKA_TOPIC_ITEMS)!;
    expect(refused.headers[DLQ_HEADERS.reason]).toBe(
      'clickhouse: items insert refused the row: FixedString(8) cannot hold 34 bytes',
    );
    expect(refused.headers[DLQ_ENVELOPE_HEADERS.errorCode]).toBeUndefined();
    // The record as the contract normalised it (defaults filled).
    expect(JSON.parse(refused.value)).toEqual({ ...poisonItem, description: '', tags: [], image: '' });
    const big = letters.find((l) => l.headers[DLQ_HEADERS.topic] === names.env.KAFKA_TOPIC_EVENTS)!;
    expect(big.headers[DLQ_HEADERS.reason]).toMatch(/^oversized/);
    expect(big.headers[DLQ_ENVELOPE_HEADERS.truncated]).toBe('true');
    expect(big.headers[DLQ_ENVELOPE_HEADERS.size]).toBe(String(Buffer.byteLength(bigValue)));
    expect(big.headers[DLQ_HEADERS.offset]).toMatch(/^\d+$/);
    expect(big.headers[DLQ_HEADERS.partition]).toMatch(/^[0-3]$/);
    expect(big.valueBytes).toBe(64 * 1024);
    expect(bigValue.startsWith(big.value)).toBe(true);

    // The good items are stored in both stores; the refused one in neither.
    const [items] = await db.clickhouse.query<{ ids: string[] }>(
      'SELECT groupArray(item_id) AS ids FROM (SELECT item_id FROM items FINAL WHERE item_id LIKE {p:String} ORDER BY item_id)',
      { p: `${names.prefix}%` },
    );
    expect(items?.ids).toEqual([`${names.prefix}good-1`, `${names.prefix}good-2`]);
    const store = new OnlineStore(redis, {
      keyPrefix: names.env.REDIS_KEY_PREFIX,
      types: ['click'],
      cap: 100,
      historyTtlS: 0,
    });
    const [g1, p1, g2] = await store.getItems([
      `${names.prefix}good-1`,
      poisonItem.item_id,
      `${names.prefix}good-2`,
    ]);
    expect([Boolean(g1), Boolean(p1), Boolean(g2)]).toEqual([true, false, true]);

    expect(await ingest.metric('mmctr_ingest_rows_rejected_total')).toBe(1);
    expect(await ingest.metric('mmctr_ingest_dead_letters_truncated_total')).toBe(1);
    expect((await ready(ingest)).status).toBe(200);
  });

  it('stops consuming while the DLQ topic is missing, answers 503 past the deadline, then writes every dead letter', async () => {
    const { names, db, producer } = await setUp('ingest-dlq-down');
    const ingest = await startIngest(names, db, QUICK_RETRIES);
    // Ingest created the DLQ topic at start-up; take it away (the broker does not auto-create topics).
    return withKafkaAdmin(kafka, async (admin) => {
      await admin.deleteTopics({ topics: [names.env.KAFKA_TOPIC_DLQ] });
      const events = makeEvents(names.prefix, 1_000, 50, 29);
      await producer.sendEvents(events.slice(0, 500));
      await producer.sendRaw(names.env.KAFKA_TOPIC_EVENTS, [
        { key: 'k', value: '{"broken": ' },
        { key: 'k', value: '' },
      ]);
      await producer.sendEvents(events.slice(500));
      await ingest.waitFor(async () => (await ready(ingest)).status === 503, 'readiness 503');
      const { body } = await ready(ingest);
      expect(JSON.stringify(body.checks.stores)).toContain('kafka-dlq:events');
      expect(await ingest.metric('mmctr_ingest_paused')).toBe(1);

      await admin.createTopics({
        topics: [{ topic: names.env.KAFKA_TOPIC_DLQ, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      await ingest.waitFor(async () => (await dedupCounts(db, names.prefix)).distinct >= 1_000, 'all stored');
      expect(await dedupCounts(db, names.prefix)).toEqual({ rows: 1_000, distinct: 1_000 });
      const letters = await readTopic(kafka, names.env.KAFKA_TOPIC_DLQ, 2);
      expect(letters.map((l) => l.headers[DLQ_HEADERS.reason]).sort()).toEqual([
        expect.stringMatching(/^bad JSON/),
        expect.stringMatching(/^empty/),
      ]);
      await ingest.waitFor(async () => (await ready(ingest)).status === 200, 'ready again');
    });
  });

  it('answers 503 while a store fails past its deadline with messages waiting, retries, and then stores everything', async () => {
    const { names, db, producer } = await setUp('ingest-stall');
    const ingest = await startIngest(names, db, { ...QUICK_RETRIES, INGEST_STALL_TIMEOUT_MS: '3000' });
    // The events table goes away after startup: every insert fails (Code 60), which is not the rows'
    // fault, so nothing may be dead-lettered or skipped.
    await db.command(`RENAME TABLE ${db.name}.events TO ${db.name}.events_away`);
    const events: BehaviourEvent[] = makeEvents(names.prefix, 3_000, 100, 23);
    await producer.sendEvents(events);
    await ingest.waitFor(async () => (await ready(ingest)).status === 503, 'readiness 503');
    await ingest.waitFor(async () => {
      const { checks } = (await ready(ingest)).body;
      return !checks.stores!.ok && !checks.consumption!.ok;
    }, 'store deadline and stall reported');
    const { body } = await ready(ingest);
    expect(body.checks.clickhouse!.ok).toBe(true); // the server answers; the store does not work
    expect(body.checks.kafka!.ok).toBe(true);
    expect(JSON.stringify(body.checks.stores)).toContain('clickhouse:events');
    expect((await fetch(`${ingest.url}/health/live`)).status).toBe(200);

    await db.command(`RENAME TABLE ${db.name}.events_away TO ${db.name}.events`);
    await ingest.waitFor(async () => (await dedupCounts(db, names.prefix)).distinct >= 3_000, 'all stored');
    expect(await dedupCounts(db, names.prefix)).toEqual({ rows: 3_000, distinct: 3_000 });
    await ingest.waitFor(async () => (await ready(ingest)).status === 200, 'ready again');
    expect(await ingest.metric('mmctr_ingest_messages_dead_lettered_total')).toBe(0);
    expect(await ingest.metric('mmctr_ingest_rows_rejected_total')).toBe(0);
    expect(await ingest.metric('mmctr_ingest_store_retries_total')).toBeGreaterThan(0);
  });
});
