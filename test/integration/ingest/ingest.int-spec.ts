// Acceptance tests of apps/ingest against the real Kafka, ClickHouse and Redis. Ingest runs as a child
// process (apps/ingest/src/main.ts), as in production. Each test has its own topics, consumer group,
// user-id prefix and Redis key prefix, so it only sees its own data in the shared stack.
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { Queue } from 'bullmq';
import type { ClickHouseService } from '@mmctr/clickhouse';
import { DLQ_HEADERS, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import type { EventProducer } from '@mmctr/kafka';
import { OnlineStore, referenceHistory, contentHash, embeddingJobId } from '@mmctr/online-store';
import { sleep } from '../../support/ingest/ingest-process';
import { makeEvents } from '../../support/ingest/events';
import { makeMalformed, reasonPattern, type MalformedKind } from '../../support/ingest/fixtures';
import { readTopic } from '../../support/ingest/read-topic';
import { dedupCounts as dedupCountsOf, ingestSuite } from '../../support/ingest/suite';
import { TcpProxy } from '../../support/tcp-proxy';

// Each test streams tens of thousands of events through a child process on a shared 2-core box.
jest.setTimeout(600_000);

const VALID_EVENTS = 100_000;
const MALFORMED = 1_000;
const HISTORY = { types: ['click'] as const, cap: 100 };

describe('ingest (Kafka -> ClickHouse + Redis)', () => {
  const suite = ingestSuite();
  const { config, startIngest } = suite;
  let kafka: Kafka;
  let redis: Redis;
  let clickhouse: ClickHouseService;

  beforeAll(() => {
    kafka = suite.kafka();
    redis = suite.redis();
    clickhouse = suite.clickhouse();
  });

  async function setUp(tag: string) {
    const names = await suite.names(tag);
    const store = new OnlineStore(redis, {
      keyPrefix: names.env.REDIS_KEY_PREFIX,
      types: HISTORY.types,
      cap: HISTORY.cap,
      historyTtlS: 0,
    });
    return { names, producer: suite.producer(names), store };
  }

  const distinctStored = async (prefix: string): Promise<number> => {
    const [row] = await clickhouse.query<{ n: string }>(
      'SELECT uniqExact(event_id) AS n FROM events WHERE user_id LIKE {p:String}',
      { p: `${prefix}%` },
    );
    return Number(row?.n ?? 0);
  };

  const dedupCounts = (prefix: string) => dedupCountsOf(clickhouse, prefix);

  /**
   * Every user's history equals the reference. A flush writes Redis after its ClickHouse insert, so the
   * last flush's histories may trail the rows the caller waited for by moments: polled for up to 30 s.
   */
  async function expectHistoriesMatch(store: OnlineStore, events: BehaviourEvent[]): Promise<number> {
    const reference = referenceHistory(events, HISTORY);
    const users = [...new Set(events.map((e) => e.user_id))];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const mismatches: string[] = [];
      for (const user of users) {
        const got = await store.getHistory(user, HISTORY.cap);
        const want = reference.get(user) ?? [];
        if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(user);
      }
      if (mismatches.length === 0 || Date.now() > deadline) {
        expect(mismatches).toEqual([]);
        return users.length;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Produces `events` in chunks with pauses, as a live stream, while `during` runs. */
  async function stream(producer: EventProducer, events: BehaviourEvent[], chunk: number, pauseMs: number) {
    for (let i = 0; i < events.length; i += chunk) {
      await producer.sendEvents(events.slice(i, i + chunk));
      await sleep(pauseMs);
    }
  }

  it('stores exactly the distinct valid events, dead-letters the malformed ones and builds every history', async () => {
    const { names, producer, store } = await setUp('ingest-acc');
    const events = makeEvents(names.prefix, VALID_EVENTS, 3_000, 7);
    const malformed = makeMalformed(names.prefix, MALFORMED, events[0]!);
    const redelivered = events.slice(0, 2_000); // a producer retry: same events again

    await producer.sendEvents(events.slice(0, VALID_EVENTS / 2));
    await producer.sendRaw(
      names.env.KAFKA_TOPIC_EVENTS,
      malformed.map((m) => ({ key: m.key, value: m.value })),
    );
    await producer.sendEvents(events.slice(VALID_EVENTS / 2));
    await producer.sendEvents(redelivered);

    // Items: two new ones, an unchanged resend, a changed version and an older, late version.
    const t = Date.UTC(2026, 0, 1);
    const item = (id: string, ts: number, title: string): CatalogueItem => ({
      schema_version: 1,
      item_id: `${names.prefix}${id}`,
      ts_ms: ts,
      title,
      tags: ['t'],
      category: 'c',
    });
    await producer.sendItems([item('a', t, 'A'), item('b:1', t, 'B')]);
    await producer.sendItems([item('a', t + 1, 'A'), item('b:1', t + 2, 'B2'), item('b:1', t + 1, 'B-late')]);
    await producer.close();

    const ingest = await startIngest(names);
    await ingest.waitFor(
      async () =>
        (await ingest.metric('mmctr_ingest_rows_stored_total')) >= VALID_EVENTS + redelivered.length + 5 &&
        (await ingest.metric('mmctr_ingest_messages_dead_lettered_total')) >= MALFORMED,
      'everything stored',
    );
    await ingest.waitFor(async () => (await distinctStored(names.prefix)) >= VALID_EVENTS, 'queryable');

    // ClickHouse: each valid event_id exactly once in the de-duplicated view, no other id.
    expect(await dedupCounts(names.prefix)).toEqual({ rows: VALID_EVENTS, distinct: VALID_EVENTS });
    const ids = await clickhouse.query<{ event_id: string }>(
      'SELECT event_id FROM events_dedup WHERE user_id LIKE {p:String} ORDER BY event_id',
      { p: `${names.prefix}%` },
    );
    expect(ids.map((r) => r.event_id)).toEqual(events.map((e) => e.event_id).sort());
    const conversion = events.find((e) => e.type === 'conversion')!;
    const [row] = await clickhouse.query<Record<string, unknown>>(
      `SELECT type, ts_ms, toUInt32(event_time) AS event_s, device, country, value, position, ingested_at > 0 AS ingested
       FROM events_dedup WHERE user_id = {u:String} AND event_id = {e:String}`,
      { u: conversion.user_id, e: conversion.event_id },
    );
    expect(row).toEqual({
      type: 'conversion',
      ts_ms: String(conversion.ts_ms),
      event_s: Math.floor(conversion.ts_ms / 1000),
      device: conversion.context!.device,
      country: 'DE',
      value: conversion.value,
      position: conversion.position,
      ingested: 1,
    });

    // Dead letters: every malformed message once, with its reason, origin and original bytes.
    const letters = await readTopic(kafka, names.env.KAFKA_TOPIC_DLQ, MALFORMED);
    expect(letters).toHaveLength(MALFORMED);
    const sentByValue = new Map(malformed.map((m) => [m.value, m.kind]));
    const byKind = new Map<MalformedKind, number>();
    for (const l of letters) {
      const kind = sentByValue.get(l.value);
      expect(kind).toBeDefined();
      expect(l.headers[DLQ_HEADERS.reason]).toMatch(reasonPattern[kind!]);
      expect(l.headers[DLQ_HEADERS.topic]).toBe(names.env.KAFKA_TOPIC_EVENTS);
      expect(Number(l.headers[DLQ_HEADERS.partition])).toBeGreaterThanOrEqual(0);
      expect(l.headers[DLQ_HEADERS.offset]).toMatch(/^\d+$/);
      byKind.set(kind!, (byKind.get(kind!) ?? 0) + 1);
      sentByValue.delete(l.value);
    }
    expect(Object.fromEntries(byKind)).toEqual({
      'bad JSON': 250,
      'missing field': 250,
      'wrong type': 250,
      oversized: 250,
    });

    // Redis: every user's history equals the reference computed from what was produced.
    expect(await expectHistoriesMatch(store, events)).toBeGreaterThan(1_000);
    const heavy = await store.getHistory(`${names.prefix}u0`, 1_000);
    expect(heavy).toHaveLength(HISTORY.cap);

    // Items: newest version stored; one embedding job per distinct content, none for the late version.
    const [a, b] = await store.getItems([`${names.prefix}a`, `${names.prefix}b:1`]);
    expect(a).toMatchObject({ title: 'A', ts_ms: t + 1 });
    expect(b).toMatchObject({ title: 'B2', ts_ms: t + 2, content_hash: contentHash(item('b:1', 0, 'B2')) });
    const queue = new Queue(names.env.EMBEDDINGS_QUEUE, { connection: redis.duplicate() });
    try {
      const jobs = await queue.getJobs([
        'waiting',
        'active',
        'completed',
        'failed',
        'delayed',
        'prioritized',
      ]);
      // "B" may have been superseded by "B2" within one flush (then it is never embedded); the
      // unchanged "A" resend and the late "B-late" version never get a job.
      const ids = jobs.map((j) => j.id);
      const jobOf = (id: string, title: string) =>
        embeddingJobId(`${names.prefix}${id}`, contentHash(item(id, 0, title)));
      expect(ids).toEqual(expect.arrayContaining([jobOf('a', 'A'), jobOf('b:1', 'B2')]));
      expect(ids).not.toContain(jobOf('b:1', 'B-late'));
      expect(ids.filter((id) => id === jobOf('a', 'A'))).toHaveLength(1);
      expect(ids.length).toBeLessThanOrEqual(3);
    } finally {
      await queue.close();
      await (await queue.client).quit();
    }
    const [items] = await clickhouse.query<{ n: string }>(
      'SELECT count() AS n FROM items FINAL WHERE item_id LIKE {p:String}',
      { p: `${names.prefix}%` },
    );
    expect(Number(items?.n)).toBe(5);

    // SIGTERM: flushes, commits and exits cleanly; one ingest_batches row per stored batch.
    // (Nest re-raises the signal after its shutdown hooks, so the process ends by SIGTERM.)
    const exit = await ingest.kill('SIGTERM');
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(ingest.messages()).toEqual(
      expect.arrayContaining(['queued batches stored and committed', 'ingest consumer stopped']),
    );
    const [log] = await clickhouse.query<{ rows: string; invalid: string }>(
      'SELECT sum(rows) AS rows, sum(invalid) AS invalid FROM ingest_batches WHERE topic = {t:String}',
      { t: names.env.KAFKA_TOPIC_EVENTS },
    );
    expect({ rows: Number(log?.rows), invalid: Number(log?.invalid) }).toEqual({
      rows: VALID_EVENTS + redelivered.length,
      invalid: MALFORMED,
    });
  });

  it('loses nothing and duplicates nothing when ingest is SIGKILLed mid-stream and restarted', async () => {
    const { names, producer, store } = await setUp('ingest-kill');
    const n = 30_000;
    const events = makeEvents(names.prefix, n, 500, 11);
    let ingest = await startIngest(names);
    const producing = stream(producer, events, 1_000, 100);
    await ingest.waitFor(
      async () => (await ingest.metric('mmctr_ingest_rows_stored_total')) > 0,
      'first rows',
    );
    await ingest.kill('SIGKILL');
    const storedAtKill = await distinctStored(names.prefix);
    expect(storedAtKill).toBeLessThan(n); // it really was mid-stream

    ingest = await startIngest(names);
    await producing;
    await producer.close();
    await ingest.waitFor(async () => (await distinctStored(names.prefix)) >= n, 'all events stored');
    expect(await dedupCounts(names.prefix)).toEqual({ rows: n, distinct: n });
    await expectHistoriesMatch(store, events);
  });

  it('pauses while ClickHouse is unreachable for 10 s, then recovers and loses nothing', async () => {
    const { names, producer, store } = await setUp('ingest-outage');
    const n = 30_000;
    const events = makeEvents(names.prefix, n, 500, 13);
    const target = new URL(config.CLICKHOUSE_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    const port = await proxy.start();
    try {
      const ingest = await startIngest(names, {
        CLICKHOUSE_URL: `http://127.0.0.1:${port}`,
        INGEST_RETRY_MAX_MS: '2000',
      });
      const producing = stream(producer, events, 1_000, 100);
      await ingest.waitFor(
        async () => (await ingest.metric('mmctr_ingest_rows_stored_total')) > 0,
        'first rows',
      );

      proxy.setMode('reset');
      const cutAt = Date.now();
      await ingest.waitFor(async () => (await ingest.metric('mmctr_ingest_paused')) === 1, 'pause');
      const ready = await fetch(`${ingest.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect((await fetch(`${ingest.url}/health/live`)).status).toBe(200);
      await sleep(Math.max(0, 10_000 - (Date.now() - cutAt)));
      proxy.setMode('forward');

      await producing;
      await producer.close();
      await ingest.waitFor(async () => (await distinctStored(names.prefix)) >= n, 'all events stored');
      await ingest.waitFor(async () => (await ingest.metric('mmctr_ingest_paused')) === 0, 'resume');
      expect(await ingest.metric('mmctr_ingest_store_retries_total')).toBeGreaterThan(0);
      expect(await dedupCounts(names.prefix)).toEqual({ rows: n, distinct: n });
      await expectHistoriesMatch(store, events);
      expect((await fetch(`${ingest.url}/health/ready`)).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});
