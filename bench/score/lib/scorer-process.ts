// The scorer as the benches run it: a child process on the local stack (Redis seeded with the bench's
// items and history, score logging to a bench topic), and the HTTP clients that time it.
import '../../../test/setup/load-stack-env.js';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { MigrationRunner, clickHouseClient, loadMigrations, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import { loadConfig } from '@mmctr/config';
import { FeatureStoreRepository, applyRepository, featureRepoFromConfig } from '@mmctr/feature-repo';
import { createKafka, ensureTopics } from '@mmctr/kafka';
import { OnlineStore, createRedis, mmVectorKey, deleteKeysMatching } from '@mmctr/online-store';
import { freePort } from '../../../test/support/free-port';
import { postScore } from './post-score';
import { B, D, DURATION, FILE, L, REPO, SPINNING, THREADS } from './settings';
import { timeRuns } from './timing';

/** The bench scorers' ClickHouse database (their registry is empty: they load SCORER_MODEL_DIR). */
const BENCH_DATABASE = 'mmctr_bench_score';

/**
 * A fresh bench database, migrated, with the running feature repository applied: the scorer refuses to
 * start on a database that does not record it, and a bench must not need the demo's database.
 */
async function prepareDatabase(config: ReturnType<typeof loadConfig>): Promise<void> {
  const admin = clickHouseClient(config);
  const ch = clickHouseClient(config, { database: BENCH_DATABASE });
  try {
    await admin.command(`DROP DATABASE IF EXISTS ${BENCH_DATABASE}`);
    await new MigrationRunner(admin, BENCH_DATABASE, loadMigrations(MIGRATIONS_DIR)).migrate();
    const applied = await applyRepository(
      new FeatureStoreRepository(ch, BENCH_DATABASE),
      featureRepoFromConfig(config),
    );
    if (applied.status === 'refused')
      throw new Error(`feature repository refused: ${applied.reasons.join('; ')}`);
  } finally {
    await ch.close();
    await admin.close();
  }
}

/**
 * The bench database (prepared fresh), then items, multimodal vectors and one user's 64-click history
 * in Redis under a prefix of the bench's own (`kind` names it); the request body and the prefix. Earlier
 * scoring benches' keys (`mmctr-bench-*`) go first.
 */
export async function seed(kind: string): Promise<{ body: string; prefix: string }> {
  const prefix = `mmctr-bench-${kind}-${Date.now()}:`;
  const config = loadConfig();
  await prepareDatabase(config);
  const redis = createRedis(config);
  await deleteKeysMatching(redis, 'mmctr-bench-*', { count: 5_000 });
  const store = new OnlineStore(redis, { keyPrefix: prefix, types: ['click'], cap: 100, historyTtlS: 3600 });
  const now = Date.now();
  const items = Array.from({ length: B + L }, (_, i) => ({
    schema_version: 1 as const,
    item_id: `bench-item-${i}`,
    ts_ms: now,
    title: `item ${i}`,
    category: `cat-${i % 40}`,
    tags: [`tag-${i % 97}`, `tag-${i % 13}`, `tag-${i % 7}`],
  }));
  await store.upsertItems(items);
  const pipeline = redis.pipeline();
  for (let i = 0; i < items.length; i++) {
    const v = Float32Array.from({ length: D }, (_, k) => Math.sin(i * 0.37 + k));
    pipeline.hset(mmVectorKey(prefix, `bench-item-${i}`), 'ts_ms', now, 'v', Buffer.from(v.buffer));
  }
  await pipeline.exec();
  await store.recordBehaviour(
    Array.from({ length: L }, (_, k) => ({
      schema_version: 1 as const,
      event_id: `bench-${k}`,
      type: 'click' as const,
      ts_ms: now - 1000 * (k + 1),
      user_id: 'bench-user',
      item_id: `bench-item-${B + k}`,
      request_id: `bench-r${k}`,
    })),
  );
  redis.disconnect();
  const body = JSON.stringify({
    user_id: 'bench-user',
    context: { device: 'android', placement: 'feed', country: 'DE' },
    candidates: Array.from({ length: B }, (_, i) => ({ item_id: `bench-item-${i}`, position: i % 32 })),
  });
  return { body, prefix };
}

/**
 * The framework-only server (../http-floor-server.ts): the same request and response JSON, no work; on
 * Nest + Fastify as the scorer, or (`nodeHttp`) on bare node:http.
 */
export async function startHttpFloor(nodeHttp = false) {
  const child = spawn(
    process.execPath,
    [
      '-r',
      join(REPO, 'scripts/register.js'),
      join(__dirname, '..', 'http-floor-server.ts'),
      ...(nodeHttp ? ['--node-http'] : []),
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`http floor server exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** One POST /v1/score on a keep-alive agent; rejects unless 200. */
export async function post(url: string, body: string, agent: Agent): Promise<void> {
  await postScore(url, body, agent);
}

/** Requests until 20 answers in a row are not degraded: the first fills the item cache from Redis (one
 * round trip), later ones hit it. */
export async function warm(url: string, body: string): Promise<void> {
  let clean = 0;
  for (let i = 0; clean < 20; i++) {
    const r = await fetch(`${url}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const j = (await r.json()) as { degraded: boolean };
    if (r.status !== 200) throw new Error(`warm-up request failed: ${r.status}`);
    clean = j.degraded ? 0 : clean + 1;
    if (i > 200) throw new Error('every warm-up answer was degraded (Redis timing out?)');
  }
}

/** Sequential requests on one keep-alive connection, timed with hrtime (autocannon rounds to ms). */
export async function sequential(url: string, body: string, n: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const r = await timeRuns(() => post(url, body, agent), 20, n);
  agent.destroy();
  return r;
}

export async function http(url: string, body: string, connections: number) {
  const result = await autocannon({
    url: `${url}/v1/score`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    pipelining: 1,
    duration: DURATION,
  });
  return {
    connections,
    p50: result.latency.p50,
    p99: result.latency.p99,
    rps: result.requests.average,
    /** Requests answered in the run, and its length in seconds. */
    requests: result.requests.total,
    durationS: result.duration,
    candidatesPerS: result.requests.average * B,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Polls the scorer's stage histograms: mean ms per stage since the scorer started. */
export async function stageMeans(url: string): Promise<Record<string, number>> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const read = (what: string, name: string) =>
    Number(
      new RegExp(`mmctr_scorer_stage_duration_seconds_${what}\\{stage="${name}"\\} (\\S+)`).exec(
        metrics,
      )?.[1],
    );
  return Object.fromEntries(
    ['history', 'items', 'encode', 'inference'].map((n) => [n, (read('sum', n) / read('count', n)) * 1e3]),
  );
}

/** The scores topic the benchmark's scorers log to, created if missing. */
export async function ensureBenchTopic(): Promise<string> {
  const topic = 'mmctr.scores.bench';
  await ensureTopics(createKafka(loadConfig()), [{ topic, numPartitions: 1, replicationFactor: 1 }]);
  return topic;
}

/**
 * The tree of commit `ref` in a temporary folder, sharing this checkout's node_modules: a scorer from
 * another commit (startScorer's `root`), to compare in the same run. The caller removes the folder.
 */
export function exportTree(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmctr-ref-'));
  execFileSync('sh', ['-c', `git archive --format=tar "$1" | tar -x -C "$2"`, 'sh', ref, dir], { cwd: REPO });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/**
 * `root`: the source tree to run the scorer from (bench/score/ab.ts runs another commit's); `nodeArgs`:
 * flags for node and V8 before the script (V8 flags NODE_OPTIONS refuses, e.g. --single-threaded-gc).
 */
export async function startScorer(
  dir: string,
  prefix: string,
  topic: string,
  env: Record<string, string> = {},
  root: string = REPO,
  nodeArgs: string[] = [],
) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...nodeArgs, '-r', join(root, 'scripts/register.js'), join(root, 'apps/scorer/src/main.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        HTTP_PORT: String(port),
        CLICKHOUSE_DATABASE: BENCH_DATABASE,
        LOG_LEVEL: 'warn',
        REDIS_KEY_PREFIX: prefix,
        KAFKA_TOPIC_SCORES: topic,
        SCORER_MODEL_DIR: dir,
        SCORER_MODEL_FILE: FILE,
        SCORER_ITEM_CACHE_SOURCE: 'none',
        SCORE_LOG_SINK_ENABLED: 'false',
        SCORER_INTRA_OP_THREADS: String(THREADS),
        SCORER_ORT_ALLOW_SPINNING: SPINNING === '1' ? 'true' : 'false',
        // Measure the model and the service, not admission control: no deadline, nothing shed.
        SCORER_DEFAULT_DEADLINE_MS: '0',
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/health/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (child.exitCode !== null || i > 600) throw new Error('scorer did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child };
}
