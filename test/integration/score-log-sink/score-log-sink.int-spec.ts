// The scorer's score-log sink against the real Kafka and ClickHouse (its service in this process, a
// topic, group and ClickHouse database of its own): a record that cannot be stored is dead-lettered
// and its partition moves on; a store that keeps failing is retried in place and reported unhealthy.
import type { Kafka } from 'kafkajs';
import { DLQ_HEADERS, type ScoreLogRecord } from '@mmctr/contracts';
import { createKafka, DLQ_ENVELOPE_HEADERS, ensureTopics } from '@mmctr/kafka';
import type { AppConfig } from '@mmctr/config';
import { createLogger } from '@mmctr/observability';
import {
  loadScorerConfig,
  ScoreLogConsumerRepository,
  ScoreLogDeadLetterRepository,
  ScoreLogSinkRepository,
  ScoreLogSinkService,
  ScorerMetrics,
} from '@mmctr/scorer';
import { testConfig, uniqueName } from '../../support/clients';
import { sleep } from '../../support/ingest/ingest-process';
import { deleteTopics } from '../../support/kafka-group';
import { readTopic } from '../../support/ingest/read-topic';
import { TestDatabase } from '../../support/ingest/test-database';

jest.setTimeout(300_000);

describe('score-log sink: poison records and failing stores', () => {
  const base = testConfig();
  let kafka: Kafka;
  const databases: TestDatabase[] = [];
  const topics: string[] = [];
  const sinks: ScoreLogSinkService[] = [];

  beforeAll(() => {
    kafka = createKafka(base);
  });

  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.onApplicationShutdown();
  });

  afterAll(async () => {
    await deleteTopics(kafka, topics);
    for (const db of databases) await db.drop();
  });

  async function setUp(tag: string, extra: Partial<AppConfig> = {}) {
    const id = uniqueName(tag).replace(/_/g, '-');
    const db = new TestDatabase();
    databases.push(db);
    await db.create();
    const config: AppConfig = {
      ...base,
      CLICKHOUSE_DATABASE: db.name,
      KAFKA_TOPIC_SCORES: `mmctr.test.${id}.scores`,
      KAFKA_TOPIC_DLQ: `mmctr.test.${id}.dlq`,
      ...extra,
    };
    topics.push(config.KAFKA_TOPIC_SCORES, config.KAFKA_TOPIC_DLQ);
    await ensureTopics(kafka, [
      { topic: config.KAFKA_TOPIC_SCORES, numPartitions: 1, replicationFactor: 1 },
      { topic: config.KAFKA_TOPIC_DLQ, numPartitions: 1, replicationFactor: 1 },
    ]);
    const scorer = loadScorerConfig({ ...process.env, SCORE_LOG_SINK_GROUP_ID: `mmctr-test-${id}-sink` });
    const metrics = new ScorerMetrics();
    const log = createLogger('scorer', 'silent');
    const sink = new ScoreLogSinkService(
      config,
      scorer,
      new ScoreLogConsumerRepository(config, scorer, log),
      new ScoreLogSinkRepository(db.clickhouse),
      new ScoreLogDeadLetterRepository(config),
      metrics,
      log,
    );
    sinks.push(sink);
    const producer = kafka.producer();
    await producer.connect();
    const send = async (values: string[]) => {
      await producer.send({
        topic: config.KAFKA_TOPIC_SCORES,
        acks: -1,
        messages: values.map((value) => ({ value })),
      });
    };
    const stored = async (prefix: string) => {
      const [row] = await db.clickhouse.query<{ n: string }>(
        'SELECT uniqExact(request_id) AS n FROM score_log WHERE request_id LIKE {p:String}',
        { p: `${prefix}%` },
      );
      return Number(row?.n ?? 0);
    };
    return { id, db, config, sink, metrics, send, stored, close: () => producer.disconnect() };
  }

  const record = (requestId: string, country = 'DE'): ScoreLogRecord => ({
    schema_version: 1,
    request_id: requestId,
    ts_ms: Date.UTC(2026, 0, 1),
    user_id: 'u1',
    model_version: 'v1',
    feature_spec_version: 'fs-1',
    context: { device: 'ios', country },
    history_item_ids: ['h1'],
    item_ids: ['a', 'b'],
    positions: [0, 1],
    ctrs: [0.1, 0.2],
    degraded: false,
  });

  async function waitFor(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  }

  it('dead-letters a record ClickHouse refuses and an undecodable one, and stores every later record of the partition', async () => {
    const t = await setUp('sink-poison');
    await t.db.migrate();
    // A column stricter than the contract: stands for any record the server refuses for its data.
    await t.db.command(`ALTER TABLE ${t.db.name}.score_log MODIFY COLUMN country FixedString(2)`);
    const p = `${t.id}-r`;
    const poison = JSON.stringify(record(`${p}poison`, 'DEU'));
    await t.send(Array.from({ length: 20 }, (_, i) => JSON.stringify(record(`${p}${i}`))));
    await t.send([poison, '{"not": "a score log"', JSON.stringify(record(`${p}20`))]);
    await t.send(Array.from({ length: 29 }, (_, i) => JSON.stringify(record(`${p}${21 + i}`))));

    t.sink.onApplicationBootstrap();
    await waitFor(async () => (await t.stored(p)) >= 50, '50 records stored');
    // The partition keeps moving.
    await t.send(Array.from({ length: 10 }, (_, i) => JSON.stringify(record(`${p}${50 + i}`))));
    await waitFor(async () => (await t.stored(p)) >= 60, 'later records stored');
    expect(await t.stored(p)).toBe(60);
    const [poisoned] = await t.db.clickhouse.query<{ n: string }>(
      'SELECT count() AS n FROM score_log WHERE request_id = {r:String}',
      { r: `${p}poison` },
    );
    expect(Number(poisoned?.n)).toBe(0);

    const letters = await readTopic(kafka, t.config.KAFKA_TOPIC_DLQ, 2);
    expect(letters).toHaveLength(2);
    const refused = letters.find((l) => l.value === poison)!;
    expect(refused.headers[DLQ_HEADERS.reason]).toMatch(
      /^clickhouse: score_log insert refused the row \(Code 131\)/,
    );
    expect(refused.headers[DLQ_ENVELOPE_HEADERS.errorCode]).toBe('131');
    expect(refused.headers[DLQ_HEADERS.topic]).toBe(t.config.KAFKA_TOPIC_SCORES);
    expect(refused.headers[DLQ_HEADERS.offset]).toBe('20');
    const undecodable = letters.find((l) => l !== refused)!;
    expect(undecodable.headers[DLQ_HEADERS.reason]).toMatch(/^bad JSON/);
    expect(undecodable.headers[DLQ_HEADERS.offset]).toBe('21');

    expect((await t.metrics.sinkRows.get()).values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { result: 'rejected' }, value: 1 }),
        expect.objectContaining({ labels: { result: 'dead_lettered' }, value: 2 }),
      ]),
    );
    await waitFor(() => t.sink.health().lag === 0, 'caught up');
    expect(t.sink.health().ok).toBe(true);
    await t.close();
  });

  it('retries a failing store in place, reports it past the deadline, then stores everything', async () => {
    // No tables yet: every insert fails (Code 60), which is not the records' fault.
    const t = await setUp('sink-stall', {
      INGEST_STORE_RETRY_DEADLINE_MS: 1_000,
      INGEST_STALL_TIMEOUT_MS: 1_500,
      INGEST_RETRY_MAX_MS: 500,
    });
    const p = `${t.id}-r`;
    await t.send(Array.from({ length: 30 }, (_, i) => JSON.stringify(record(`${p}${i}`))));
    t.sink.onApplicationBootstrap();
    await waitFor(() => !t.sink.health().ok, 'unhealthy');
    await waitFor(() => t.sink.health().failing.some((f) => f.target === 'clickhouse'), 'store reported');
    await t.db.migrate();
    await waitFor(async () => (await t.stored(p)) >= 30, 'all stored');
    expect(await t.stored(p)).toBe(30);
    await waitFor(() => t.sink.health().ok, 'healthy again');
    expect((await t.metrics.sinkRows.get()).values).not.toEqual(
      expect.arrayContaining([expect.objectContaining({ labels: { result: 'dead_lettered' } })]),
    );
    await t.close();
  });
});
