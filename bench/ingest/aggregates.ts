// What the demo aggregations cost ingest: the same pre-produced events ingested twice in one run, by the
// demo repository alone and by the demo repository plus the aggregations of
// test/integration/aggregates/demo-aggregations.ts (item impressions / clicks / CTR over 1h, 24h, 7d, a
// filtered sum, user x category clicks), each into a database of its own. Reports CPU seconds per 1M
// events of the ingest process and of Redis, and the ratio (target <= 1.3x for ingest). Redis is a
// redis-server the bench starts for itself when one is on PATH (so that no other client of the stack's
// Redis is counted), else the stack's.
//   node -r ./scripts/register.js bench/ingest/aggregates.ts [--events 200000]
import '../../test/setup/load-stack-env.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { loadConfig } from '@mmctr/config';
import { MigrationRunner, clickHouseClient, loadMigrations, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import type { BehaviourEvent, CatalogueItem, EventType } from '@mmctr/contracts';
import {
  DEFAULT_FEATURE_REPO_PATH,
  FeatureStoreRepository,
  applyRepository,
  loadFeatureRepo,
  type FeatureRepo,
} from '@mmctr/feature-repo';
import { createKafka, ensureTopics, EventProducer } from '@mmctr/kafka';
import { writeRepo } from '../../test/support/feature-repo/ad-platform';
import { rng } from '../../test/support/ingest/events';
import { IngestProcess, sleep } from '../../test/support/ingest/ingest-process';
import { demoWithAggregations } from '../../test/integration/aggregates/demo-aggregations';
import { freePort } from '../../test/support/free-port';
import { cpuSeconds, servicesCpu } from '../support/cpu';
import { runMainThenExit } from '../support/run-main';
import { deleteKeysMatching } from '@mmctr/online-store';
import { log } from '../support/log';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
const N = Number(args.events);
const ITEMS = 20_000;
const config = loadConfig();
const RUN = `${Date.now()}`;
const topics = {
  events: `mmctr.bench.${RUN}.agg.events`,
  items: `mmctr.bench.${RUN}.agg.items`,
  dlq: `mmctr.bench.${RUN}.agg.dlq`,
};
const kafka = createKafka(config);
const admin = clickHouseClient(config);

const TYPES: EventType[] = ['impression', 'impression', 'click', 'click', 'conversion'];

/** The run's events (the last hour, so every tier counts them) and its catalogue (categories). */
async function produce(): Promise<void> {
  await ensureTopics(kafka, [
    { topic: topics.events, numPartitions: 4, replicationFactor: 1 },
    { topic: topics.items, numPartitions: 2, replicationFactor: 1 },
    { topic: topics.dlq, numPartitions: 1, replicationFactor: 1 },
  ]);
  const producer = new EventProducer(kafka, {
    eventsTopic: topics.events,
    itemsTopic: topics.items,
    validate: false,
  });
  const items: CatalogueItem[] = Array.from({ length: ITEMS }, (_, i) => ({
    schema_version: 1,
    item_id: `i${i}`,
    ts_ms: Date.now() - 86_400_000,
    title: `item ${i}`,
    category: `c${i % 50}`,
  }));
  await producer.sendItems(items);
  const rand = rng(42);
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < N; i += 50_000) {
    const events: BehaviourEvent[] = Array.from({ length: Math.min(50_000, N - i) }, (_, k) => ({
      schema_version: 1,
      event_id: `a${i + k}`,
      type: TYPES[Math.floor(rand() * TYPES.length)]!,
      ts_ms: base + Math.floor(rand() * 3_000_000),
      user_id: `u${Math.floor(rand() * 50_000)}`,
      item_id: `i${Math.floor(rand() * ITEMS)}`,
      request_id: `r${Math.floor((i + k) / 10)}`,
      position: (i + k) % 10,
      value: Math.floor(rand() * 100) / 10,
      context: { device: rand() < 0.5 ? 'mobile' : 'desktop', placement: 'feed', country: 'DE' },
    }));
    await producer.sendEvents(events);
  }
  await producer.close();
}

/** The Redis ingest writes to: its URL and how much CPU it has used. */
interface BenchRedis {
  readonly url: string;
  cpu(): number;
  stop(): void;
}

/** A redis-server of the bench's own (no persistence), or the stack's when none is installed. */
async function startRedis(): Promise<BenchRedis> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    log('no redis-server on PATH: Redis CPU is the stack Redis, every client of it included');
    return { url: config.REDIS_URL, cpu: () => servicesCpu().redis, stop: () => undefined };
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  // Ready once it answers (ioredis queues the PING and reconnects until then).
  const probe = new Redis(url);
  probe.on('error', () => undefined); // refused until it listens
  await probe.ping();
  probe.disconnect();
  return { url, cpu: () => cpuSeconds(child.pid), stop: () => child.kill() };
}

/** Ingests every event into `db` with `repo`; CPU seconds of ingest and of Redis. */
async function ingest(name: string, repo: FeatureRepo, repoDir: string, redis: BenchRedis) {
  const db = `mmctr_bench_agg_${name}`;
  await admin.command(`DROP DATABASE IF EXISTS ${db}`);
  await new MigrationRunner(admin, db, loadMigrations(MIGRATIONS_DIR)).migrate();
  const ch = clickHouseClient(config, { database: db });
  await applyRepository(new FeatureStoreRepository(ch, db), repo);
  const p = await IngestProcess.start({
    CLICKHOUSE_DATABASE: db,
    FEATURE_REPO: repoDir,
    KAFKA_TOPIC_EVENTS: topics.events,
    KAFKA_TOPIC_ITEMS: topics.items,
    KAFKA_TOPIC_DLQ: topics.dlq,
    INGEST_GROUP_ID: `mmctr-bench-${RUN}-${name}`,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `mmctr-bench:${RUN}:${name}:`,
    EMBEDDINGS_QUEUE: `mmctr-bench-${RUN}-${name}-emb`,
    LOG_LEVEL: 'info',
  });
  const cpu0 = { app: cpuSeconds(p.pid), redis: redis.cpu() };
  const t0 = Date.now();
  try {
    for (;;) {
      const [row] = await ch.query<{ n: string }>('SELECT count() AS n FROM events');
      if (Number(row?.n ?? 0) >= N) break;
      if (Date.now() - t0 > 900_000) throw new Error(`${name}: timed out`);
      await sleep(200);
    }
    // Redis is written after ClickHouse: let the last batch's counters land before reading the CPU.
    await sleep(1_000);
    const app = cpuSeconds(p.pid) - cpu0.app;
    return { seconds: (Date.now() - t0) / 1000, app, redis: redis.cpu() - cpu0.redis };
  } finally {
    await p.stop();
    await admin.command(`DROP DATABASE IF EXISTS ${db}`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mmctr-bench-agg-'));
  const redis = await startRedis();
  try {
    const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
    const withAggregates = demoWithAggregations();
    log(`producing ${N} events`);
    await produce();
    const perM = (s: number) => Number(((s * 1_000_000) / N).toFixed(1));
    const rows: { run: string; load: string; seconds: number; app: number; redis: number }[] = [];
    // Alternated, twice each, so that drift in the shared machine's load falls on both.
    for (const [name, repo] of [
      ['plain', demo],
      ['aggregates', withAggregates],
      ['plain2', demo],
      ['aggregates2', withAggregates],
    ] as const) {
      const load = loadavg()[0]!.toFixed(2);
      log(`ingesting with ${name}`);
      const r = await ingest(name, repo, writeRepo(dir, name, repo), redis);
      rows.push({ run: name, load, ...r });
      log(JSON.stringify({ ...rows.at(-1), appPerM: perM(r.app), redisPerM: perM(r.redis) }));
    }
    const sum = (prefix: string, k: 'app' | 'redis') =>
      rows.filter((r) => r.run.startsWith(prefix)).reduce((s, r) => s + r[k], 0);
    const ratio = (k: 'app' | 'redis') => (sum('aggregates', k) / sum('plain', k)).toFixed(2);
    console.log(
      JSON.stringify(
        {
          events: N,
          runs: rows.map((r) => ({ ...r, app_per_1m: perM(r.app), redis_per_1m: perM(r.redis) })),
          ingest_cpu_ratio: Number(ratio('app')),
          redis_cpu_ratio: Number(ratio('redis')),
          ingest_plus_redis_ratio: Number(
            (
              (sum('aggregates', 'app') + sum('aggregates', 'redis')) /
              (sum('plain', 'app') + sum('plain', 'redis'))
            ).toFixed(2),
          ),
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const client = new Redis(redis.url);
    await deleteKeysMatching(client, `mmctr-bench:${RUN}:*`);
    client.disconnect();
    redis.stop();
    const a = kafka.admin();
    await a.connect();
    await a.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await a.disconnect();
  }
}

runMainThenExit(main);
