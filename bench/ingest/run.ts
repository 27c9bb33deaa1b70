// Ingest benchmark: apps/ingest vs a kcat | clickhouse-client baseline on the same topic, then the
// produce-to-queryable lag at a steady rate. See bench/ingest/README.md.
//   node -r ./scripts/register.js bench/ingest/run.ts [--events 1000000] [--lag-rate 10000] [--lag-seconds 30]
// Talks to the local stack (deploy/local/stack.env) unless the environment points elsewhere.
import '../../test/setup/load-stack-env.js';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '@mmctr/config';
import { percentile } from '@mmctr/observability';
import { MigrationRunner, clickHouseClient, loadMigrations, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import type { BehaviourEvent, EventType } from '@mmctr/contracts';
import { FeatureStoreRepository, applyRepository, featureRepoFromConfig } from '@mmctr/feature-repo';
import { createKafka, ensureTopics, EventProducer } from '@mmctr/kafka';
import { createRedis, deleteKeysMatching } from '@mmctr/online-store';
import { IngestProcess, sleep } from '../../test/support/ingest/ingest-process';
import { rng } from '../../test/support/ingest/events';
import { cpuSeconds, servicesCpu, servicesSince, totalCpu, type ServiceCpu } from '../support/cpu';
import { log } from '../support/log';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    'lag-rate': { type: 'string', default: '10000' },
    'lag-seconds': { type: 'string', default: '30' },
    'skip-baseline': { type: 'boolean', default: false },
    'skip-lag': { type: 'boolean', default: false },
    // Also measure N ingest processes in one consumer group (scale-out), on a fresh database. 2 by
    // default: one process per core is how ingest is deployed on this 2-core box (k8s: replicas 2).
    replicas: { type: 'string', default: '2' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(args.events);
const LAG_RATE = Number(args['lag-rate']);
const LAG_SECONDS = Number(args['lag-seconds']);

const config = loadConfig();
const DB = 'mmctr_bench';
const TCP_PORT = process.env.CLICKHOUSE_TCP_PORT ?? '19000';
const RUN = `${Date.now()}`;
const topics = {
  events: `mmctr.bench.${RUN}.events`,
  items: `mmctr.bench.${RUN}.items`,
  dlq: `mmctr.bench.${RUN}.dlq`,
  lag: `mmctr.bench.${RUN}.lag`,
};
const REDIS_PREFIX = `mmctr-bench:${RUN}:`;

const admin = clickHouseClient(config);
const ch = clickHouseClient(config, { database: DB });
const kafka = createKafka(config);

const TYPES: EventType[] = ['impression', 'impression', 'click', 'click', 'conversion'];
function makeEvent(i: number, rand: () => number, tsMs: number, userPrefix: string): BehaviourEvent {
  return {
    schema_version: 1,
    event_id: `${userPrefix}e${i}`,
    type: TYPES[Math.floor(rand() * TYPES.length)]!,
    ts_ms: tsMs,
    user_id: `${userPrefix}u${Math.floor(rand() * 50_000)}`,
    item_id: `i${Math.floor(rand() * 20_000)}`,
    request_id: `${userPrefix}r${Math.floor(i / 10)}`,
    position: i % 10,
    context: { device: rand() < 0.5 ? 'mobile' : 'desktop', placement: 'feed', country: 'DE' },
  };
}

const perMillionEach = (c: ServiceCpu) => ({
  kafka: perMillion(c.kafka),
  clickhouse: perMillion(c.clickhouse),
  redis: perMillion(c.redis),
});

const perMillion = (seconds: number) => Number(((seconds * 1_000_000) / N).toFixed(2));

async function count(sql: string): Promise<number> {
  const [row] = await ch.query<{ n: string }>(sql);
  return Number(row?.n ?? 0);
}

async function waitForCount(sql: string, target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await count(sql)) >= target) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${target} rows: ${sql}`);
    await sleep(100);
  }
}

const ingestEnv = (events: string, group: string) => ({
  CLICKHOUSE_DATABASE: DB,
  KAFKA_TOPIC_EVENTS: events,
  KAFKA_TOPIC_ITEMS: topics.items,
  KAFKA_TOPIC_DLQ: topics.dlq,
  INGEST_GROUP_ID: group,
  REDIS_KEY_PREFIX: REDIS_PREFIX,
  EMBEDDINGS_QUEUE: `mmctr-bench-${RUN}-emb`,
  LOG_LEVEL: 'info',
});

async function setUp(): Promise<void> {
  await admin.command(`DROP DATABASE IF EXISTS ${DB}`);
  await new MigrationRunner(admin, DB, loadMigrations(MIGRATIONS_DIR)).migrate();
  // Ingest refuses to start on a repository the database does not record as applied.
  await applyRepository(new FeatureStoreRepository(ch, DB), featureRepoFromConfig(config));
  // The baseline's table: events' columns; what JSONEachRow cannot fill comes from DEFAULTs.
  await ch.command(`
    CREATE TABLE baseline_events (
      event_id String, type Enum8('impression' = 1, 'click' = 2, 'conversion' = 3), ts_ms UInt64,
      event_time DateTime DEFAULT toDateTime(intDiv(ts_ms, 1000)), user_id String, item_id String,
      request_id String, position UInt16, device String, placement String, country String, value Float64,
      schema_version UInt8, ingested_at DateTime DEFAULT now()
    ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMMDD(event_time) ORDER BY (user_id, ts_ms, event_id)`);
  await ensureTopics(kafka, [
    { topic: topics.events, numPartitions: 4, replicationFactor: 1 },
    { topic: topics.items, numPartitions: 2, replicationFactor: 1 },
    { topic: topics.dlq, numPartitions: 1, replicationFactor: 1 },
    { topic: topics.lag, numPartitions: 4, replicationFactor: 1 },
  ]);
}

async function preProduce(): Promise<number> {
  const producer = new EventProducer(kafka, {
    eventsTopic: topics.events,
    itemsTopic: topics.items,
    validate: false,
  });
  const rand = rng(42);
  const base = Date.now() - 3_600_000;
  const t0 = Date.now();
  const CHUNK = 50_000;
  for (let i = 0; i < N; i += CHUNK) {
    const events = Array.from({ length: Math.min(CHUNK, N - i) }, (_, k) =>
      makeEvent(i + k, rand, base + Math.floor(rand() * 3_000_000), 'b'),
    );
    await producer.sendEvents(events);
    if ((i / CHUNK) % 4 === 0) log(`produced ${i + events.length}/${N}`);
  }
  await producer.close();
  return N / ((Date.now() - t0) / 1000);
}

async function runIngest(replicas = 1): Promise<{
  eventsPerS: number;
  seconds: number;
  startupS: number;
  cpu: { appS: number; servicesS: number; services: ServiceCpu };
}> {
  const spawned = Date.now();
  const group = `mmctr-bench-${RUN}-x${replicas}`;
  const ingests = await Promise.all(
    Array.from({ length: replicas }, () => IngestProcess.start(ingestEnv(topics.events, group))),
  );
  const t0 = Date.now();
  const appCpu = () => ingests.reduce((s, p) => s + cpuSeconds(p.pid), 0);
  const cpu0 = { app: appCpu(), services: servicesCpu() };
  try {
    const t1 = await waitForCount('SELECT count() AS n FROM events', N, 600_000);
    const seconds = (t1 - t0) / 1000;
    const services = servicesSince(cpu0.services);
    const cpu = { appS: appCpu() - cpu0.app, servicesS: totalCpu(services), services };
    return { eventsPerS: N / seconds, seconds, startupS: (t0 - spawned) / 1000, cpu };
  } finally {
    await Promise.all(ingests.map((p) => p.stop()));
  }
}

async function runBaseline(): Promise<{
  eventsPerS: number;
  seconds: number;
  cpu: { appS: number; servicesS: number; services: ServiceCpu };
}> {
  const t0 = Date.now();
  const services0 = servicesCpu();
  const [host, port] = config.KAFKA_BROKERS[0]!.split(':');
  const pipeline =
    `kcat -C -b ${host}:${port} -t ${topics.events} -o beginning -e -q -f '%s\\n' | ` +
    `clickhouse-client --host 127.0.0.1 --port ${TCP_PORT} --database ${DB} ` +
    `--input_format_skip_unknown_fields=1 --insert_sample_with_metadata=1 ` +
    `--query 'INSERT INTO baseline_events FORMAT JSONEachRow'`;
  // bash's `times` reports the CPU of the pipeline's processes (kcat, clickhouse-client) once reaped.
  const times = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', `${pipeline} && times`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`baseline exited ${code}`))));
  });
  const t1 = await waitForCount('SELECT count() AS n FROM baseline_events', N, 600_000);
  const seconds = (t1 - t0) / 1000;
  const services = servicesSince(services0);
  return {
    eventsPerS: N / seconds,
    seconds,
    cpu: { appS: childrenCpu(times), servicesS: totalCpu(services), services },
  };
}

/** Sums the children's user and system time from bash's `times` output (its second line). */
function childrenCpu(times: string): number {
  const line = times.trim().split('\n').pop() ?? '';
  return [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((s, m) => s + Number(m[1]) * 60 + Number(m[2]), 0);
}

/**
 * Produces `LAG_RATE` events/s for `LAG_SECONDS` (ts_ms = send time) while ingest runs, polling
 * ClickHouse every 100 ms. An event's lag = when its 100 ms bucket was complete in ClickHouse minus
 * its send time (an upper bound: it includes up to one poll interval).
 */
async function runLag() {
  const ingest = await IngestProcess.start(ingestEnv(topics.lag, `mmctr-bench-lag-${RUN}`));
  const producer = new EventProducer(kafka, {
    eventsTopic: topics.lag,
    itemsTopic: topics.items,
    validate: false,
  });
  await producer.connect();
  const rand = rng(7);
  const expected = new Map<number, number[]>(); // bucket -> send times
  const completedAt = new Map<number, number>();
  let producing = true;
  const poller = (async () => {
    while (producing || completedAt.size < expected.size) {
      const pending = [...expected.keys()].filter((b) => !completedAt.has(b));
      if (pending.length > 0) {
        const from = Math.min(...pending) * 100;
        const rows = await ch.query<{ b: string; c: string }>(
          `SELECT intDiv(ts_ms, 100) AS b, count() AS c FROM events
           WHERE user_id LIKE 'lag%' AND ts_ms >= {from:UInt64} GROUP BY b`,
          { from },
        );
        const now = Date.now();
        for (const r of rows) {
          const b = Number(r.b);
          if (!completedAt.has(b) && Number(r.c) >= (expected.get(b)?.length ?? Infinity))
            completedAt.set(b, now);
        }
      }
      await sleep(100);
    }
  })();
  const TICK_MS = 100;
  const perTick = Math.round((LAG_RATE * TICK_MS) / 1000);
  const start = Date.now();
  let i = 0;
  for (let tick = 0; tick < (LAG_SECONDS * 1000) / TICK_MS; tick++) {
    const due = start + tick * TICK_MS;
    if (due > Date.now()) await sleep(due - Date.now());
    const ts = Date.now();
    const events = Array.from({ length: perTick }, () => makeEvent(i++, rand, ts, 'lag'));
    const bucket = Math.floor(ts / 100);
    expected.set(bucket, [...(expected.get(bucket) ?? []), ...events.map(() => ts)]);
    await producer.sendEvents(events);
  }
  const achievedRate = i / ((Date.now() - start) / 1000);
  producing = false;
  await Promise.race([
    poller,
    sleep(120_000).then(() => {
      throw new Error('lag: not all events became queryable');
    }),
  ]);
  await producer.close();
  await ingest.stop();
  const lags: number[] = [];
  for (const [b, sends] of expected) for (const s of sends) lags.push(completedAt.get(b)! - s);
  lags.sort((a, b) => a - b);
  return {
    events: i,
    achievedRate,
    p50Ms: percentile(lags, 50),
    p99Ms: percentile(lags, 99),
    maxMs: lags[lags.length - 1]!,
  };
}

async function clearRedis(): Promise<void> {
  const redis = createRedis(config);
  await deleteKeysMatching(redis, `${REDIS_PREFIX}*`, { count: 5000 });
  redis.disconnect();
}

async function cleanUp(): Promise<void> {
  const kadmin = kafka.admin();
  await kadmin.connect();
  await kadmin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
  await kadmin.disconnect();
  await clearRedis();
  if (!args.keep) await admin.command(`DROP DATABASE IF EXISTS ${DB}`);
}

async function main(): Promise<void> {
  await setUp();
  try {
    log(`pre-producing ${N} events to ${topics.events}`);
    const produceRate = await preProduce();
    log(`ingest: consuming ${N} events`);
    const ingest = await runIngest();
    log(`ingest: ${Math.round(ingest.eventsPerS)} events/s`);
    const baseline = args['skip-baseline'] ? undefined : await runBaseline();
    if (baseline) log(`baseline: ${Math.round(baseline.eventsPerS)} events/s`);
    const replicas = Number(args.replicas);
    let scaled: Awaited<ReturnType<typeof runIngest>> | undefined;
    if (replicas > 1) {
      // A fresh database and history keys, so the second pass does the same work as the first.
      await setUp();
      await clearRedis();
      log(`ingest x${replicas}: consuming ${N} events with ${replicas} processes in one group`);
      scaled = await runIngest(replicas);
      log(`ingest x${replicas}: ${Math.round(scaled.eventsPerS)} events/s`);
    }
    const lag = args['skip-lag'] ? undefined : await runLag();
    const result = {
      when: new Date().toISOString(),
      events: N,
      produceEventsPerS: Math.round(produceRate),
      ingest: { ...ingest, eventsPerS: Math.round(ingest.eventsPerS) },
      baseline: baseline && { ...baseline, eventsPerS: Math.round(baseline.eventsPerS) },
      ratio: baseline ? Number((ingest.eventsPerS / baseline.eventsPerS).toFixed(3)) : undefined,
      scaled: scaled && {
        replicas,
        eventsPerS: Math.round(scaled.eventsPerS),
        ratio: baseline ? Number((scaled.eventsPerS / baseline.eventsPerS).toFixed(3)) : undefined,
        cpuPerMillion: { app: perMillion(scaled.cpu.appS), services: perMillion(scaled.cpu.servicesS) },
      },
      // CPU seconds per million events: the consuming process(es), and Kafka + ClickHouse + Redis.
      cpuPerMillion: {
        ingest: {
          app: perMillion(ingest.cpu.appS),
          services: perMillion(ingest.cpu.servicesS),
          ...perMillionEach(ingest.cpu.services),
        },
        baseline: baseline && {
          app: perMillion(baseline.cpu.appS),
          services: perMillion(baseline.cpu.servicesS),
          ...perMillionEach(baseline.cpu.services),
        },
      },
      lag,
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `\ningest ${result.ingest.eventsPerS} events/s` +
        (baseline
          ? ` | kcat|clickhouse-client ${result.baseline!.eventsPerS} events/s | ratio ${result.ratio}`
          : '') +
        ` | CPU s per 1M events: ingest ${result.cpuPerMillion.ingest.app} + services ${result.cpuPerMillion.ingest.services}` +
        (result.cpuPerMillion.baseline
          ? `, baseline ${result.cpuPerMillion.baseline.app} + services ${result.cpuPerMillion.baseline.services}`
          : '') +
        (result.scaled
          ? ` | x${result.scaled.replicas} processes ${result.scaled.eventsPerS} events/s` +
            (result.scaled.ratio !== undefined ? ` (ratio ${result.scaled.ratio})` : '')
          : '') +
        (lag
          ? ` | lag at ${Math.round(lag.achievedRate)} ev/s: p50 ${lag.p50Ms} ms, p99 ${lag.p99Ms} ms`
          : ''),
    );
    const dir = join(__dirname, '..', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `ingest-${RUN}.json`), JSON.stringify(result, null, 2));
  } finally {
    await cleanUp();
    await ch.close();
    await admin.close();
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
