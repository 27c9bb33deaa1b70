// Scoring benchmark: 1 user x 500 candidates, L = 64, D = 128, through the real HTTP service (Redis
// history + item features, score logging to Kafka), against the raw session.run of the same inputs
// and the machine's fp32 MatMul ceiling, all in one run.
//
// Usage: node -r ./scripts/register.js bench/score/run.ts [--emb 64] [--candidates 500] [--duration 10]
//        [--connections 8] [--threads 2] [--model DIR] [--file model.int8.onnx] [--spinning 0|1]
// Needs the local stack (deploy/local/up) and .venv (torch, onnx) to build the models once.
// The local stack's endpoints unless the environment already points elsewhere (as the tests do).
import '../../test/setup/load-stack-env.js';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import { loadConfig } from '@mmctr/config';
import { createKafka, ensureTopics } from '@mmctr/kafka';
import { OnlineStore, createRedis } from '@mmctr/online-store';

const REPO = join(__dirname, '..', '..');
const PY = join(REPO, '.venv', 'bin', 'python');
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const EMB = Number(arg('emb', '64'));
const B = Number(arg('candidates', '500'));
const DURATION = Number(arg('duration', '10'));
const CONNECTIONS = Number(arg('connections', '8'));
const THREADS = Number(arg('threads', '2'));
const FILE = arg('file', 'model.onnx');
// Same default as the scorer (SCORER_ORT_ALLOW_SPINNING=false), so raw and served runs compare like for like.
const SPINNING = arg('spinning', '0');
const SESSION_EXTRA = { session: { intra_op: { allow_spinning: SPINNING } } };
const LAYERS = 4;
const L = 64;
const D = 128;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeRuns(fn: () => Promise<unknown>, warm: number, n: number) {
  for (let i = 0; i < warm; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** Multiply-adds x 2 of the fixture QIN graph (make-test-model.py) for one request of `b` candidates. */
function qinFlops(e: number, b: number): number {
  const t = 3 * e;
  const att = 2 * t;
  const w = 2 * e + 2 * t;
  const perRequest = 2 * (L * D * e + 2 * L * t * att); // history mm projection, K and V (once)
  const perCandidate = 2 * (D * e + t * att + 2 * att * L + att * t + LAYERS * w * w + w);
  return perRequest + b * perCandidate;
}

function model(emb: number): string {
  const dir = join(REPO, '.cache', 'bench-models', `qin-e${emb}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    execFileSync(
      PY,
      [join(REPO, 'apps/scorer/test/fixtures/make-test-model.py'), dir, '--emb', String(emb), '--seed', '11'],
      {
        stdio: 'inherit',
      },
    );
  }
  return dir;
}

async function matmulGflops(): Promise<{ gflops: number; p50: number }> {
  const [M, K, N] = [500, 1024, 1024];
  const file = join(REPO, '.cache', 'bench-models', `matmul-${M}x${K}x${N}.onnx`);
  if (!existsSync(file))
    execFileSync(PY, [join(__dirname, 'make-matmul.py'), file, String(M), String(K), String(N)]);
  // The ceiling: onnxruntime defaults (pool threads spin), whatever the scorer is set to.
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: THREADS, interOpNumThreads: 1 });
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)),
    [M, K],
  );
  const { p50 } = await timeRuns(() => s.run({ X: x }), 10, 100);
  await s.release();
  return { gflops: (2 * M * K * N) / (p50 / 1e3) / 1e9, p50 };
}

async function rawSession(dir: string, file: string) {
  const s = await ort.InferenceSession.create(join(dir, file), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: SESSION_EXTRA,
  });
  const ids = (n: number, max: number) =>
    BigInt64Array.from({ length: n }, (_, i) => BigInt(1 + ((i * 7919) % (max - 1))));
  const feeds = {
    user_fields: new ort.Tensor('int64', ids(5, 60), [1, 5]),
    hist_ids: new ort.Tensor('int64', ids(L, 100_000), [1, L]),
    hist_tags: new ort.Tensor('int64', ids(L * 5, 16_000), [1, L, 5]),
    hist_cat: new ort.Tensor('int64', ids(L, 1000), [1, L]),
    hist_mm: new ort.Tensor(
      'float32',
      Float32Array.from({ length: L * D }, (_, i) => Math.cos(i)),
      [1, L, D],
    ),
    cand_fields: new ort.Tensor('int64', ids(B * 3, 60), [B, 3]),
    cand_tags: new ort.Tensor('int64', ids(B * 5, 16_000), [B, 5]),
    cand_mm: new ort.Tensor(
      'float32',
      Float32Array.from({ length: B * D }, (_, i) => Math.sin(i)),
      [B, D],
    ),
  };
  const r = await timeRuns(() => s.run(feeds), 10, 200);
  const ctr = Array.from((await s.run(feeds)).ctr!.data as Float32Array);
  await s.release();
  return { ...r, ctr };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function seed(prefix: string): Promise<{ body: string }> {
  const config = loadConfig();
  const redis = createRedis(config);
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
    pipeline.hset(`${prefix}item:bench-item-${i}:mm`, 'ts_ms', now, 'v', Buffer.from(v.buffer));
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
  return { body };
}

/** Sequential requests on one keep-alive connection, timed with hrtime (autocannon rounds to ms). */
async function sequential(url: string, body: string, n: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(url);
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          hostname,
          port,
          path: '/v1/score',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const r = await timeRuns(once, 20, n);
  agent.destroy();
  return r;
}

async function http(url: string, body: string, connections: number) {
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
    candidatesPerS: result.requests.average * B,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

async function main(): Promise<void> {
  const dir = arg('model', '') || model(EMB);
  const config = loadConfig();
  console.log(
    `# scoring benchmark: 1 user x ${B} candidates, L=${L}, D=${D}, model ${dir}, ${THREADS} intra-op threads`,
  );
  const matmul = await matmulGflops();
  console.log(
    `MatMul 500x1024 @ 1024x1024: p50 ${matmul.p50.toFixed(2)} ms = ${matmul.gflops.toFixed(1)} GFLOP/s`,
  );
  const raw = await rawSession(dir, FILE);
  if (FILE !== 'model.onnx') {
    const ref = await rawSession(dir, 'model.onnx');
    const diff = Math.max(...raw.ctr.map((c, i) => Math.abs(c - ref.ctr[i]!)));
    console.log(
      `${FILE} vs model.onnx: p50 ${raw.p50.toFixed(2)} vs ${ref.p50.toFixed(2)} ms, max |ctr diff| ${diff.toExponential(2)}`,
    );
  }
  const flops = arg('model', '') ? NaN : qinFlops(EMB, B);
  const qinGflops = flops / (raw.p50 / 1e3) / 1e9;
  console.log(
    `raw session.run (B=${B}): p50 ${raw.p50.toFixed(2)} ms, p99 ${raw.p99.toFixed(2)} ms; ${(flops / 1e6).toFixed(0)} MFLOP -> ${qinGflops.toFixed(1)} GFLOP/s`,
  );

  const prefix = `bench:${Date.now()}:`;
  const topic = 'mmctr.scores.bench';
  await ensureTopics(createKafka(config), [{ topic, numPartitions: 1, replicationFactor: 1 }]);
  const { body } = await seed(prefix);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['-r', join(REPO, 'scripts/register.js'), join(REPO, 'apps/scorer/src/main.ts')],
    {
      cwd: REPO,
      env: {
        ...process.env,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        REDIS_KEY_PREFIX: prefix,
        KAFKA_TOPIC_SCORES: topic,
        SCORER_MODEL_DIR: dir,
        SCORER_MODEL_FILE: FILE,
        SCORER_ITEM_CACHE_SOURCE: 'none',
        SCORE_LOG_SINK_ENABLED: 'false',
        SCORER_INTRA_OP_THREADS: String(THREADS),
        SCORER_ORT_ALLOW_SPINNING: SPINNING === '1' ? 'true' : 'false',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/health/ready`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (i > 600) throw new Error('scorer did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Warm: the first request fills the item cache from Redis (one round trip), later ones hit it.
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
    const seq = await sequential(url, body, 300);
    console.log(
      `HTTP sequential (hrtime, 300 requests): p50 ${seq.p50.toFixed(2)} ms, p99 ${seq.p99.toFixed(2)} ms`,
    );
    // Where the scorer's time went (its own stage histograms: warm-up + sequential requests).
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const stage = (name: string) => {
      const sum = Number(
        new RegExp(`mmctr_scorer_stage_duration_seconds_sum\\{stage="${name}"\\} (\\S+)`).exec(metrics)?.[1],
      );
      const count = Number(
        new RegExp(`mmctr_scorer_stage_duration_seconds_count\\{stage="${name}"\\} (\\S+)`).exec(
          metrics,
        )?.[1],
      );
      return (sum / count) * 1e3;
    };
    const stages = Object.fromEntries(['history', 'items', 'encode', 'inference'].map((n) => [n, stage(n)]));
    console.log(
      `scorer stage means (ms): ${Object.entries(stages)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}`,
    );
    const c1 = await http(url, body, 1);
    const sat = await http(url, body, CONNECTIONS);
    // Raw again with the scorer idle: the machine is shared, so bracket the HTTP runs.
    const rawAfter = await rawSession(dir, FILE);
    console.log(
      `raw session.run again after the HTTP runs: p50 ${rawAfter.p50.toFixed(2)} ms, p99 ${rawAfter.p99.toFixed(2)} ms`,
    );
    const row = (name: string, r: typeof c1) =>
      `${name.padEnd(18)} p50 ${String(r.p50).padStart(5)} ms  p99 ${String(r.p99).padStart(5)} ms  ${r.rps.toFixed(1).padStart(7)} req/s  ${Math.round(r.candidatesPerS).toString().padStart(7)} candidates/s  non-2xx ${r.non2xx} errors ${r.errors}`;
    console.log(row('HTTP concurrency 1', c1));
    console.log(row(`HTTP saturation (${CONNECTIONS})`, sat));
    const ratios = {
      http_p50_over_raw_p50: seq.p50 / raw.p50,
      http_p50_over_raw_after_p50: seq.p50 / rawAfter.p50,
      qin_gflops_over_matmul_gflops: qinGflops / matmul.gflops,
      http_p99_ms: seq.p99,
    };
    console.log(
      `ratio HTTP p50 / raw session.run p50 = ${ratios.http_p50_over_raw_p50.toFixed(2)} (before), ${ratios.http_p50_over_raw_after_p50.toFixed(2)} (after; target <= 1.2)`,
    );
    console.log(
      `ratio model GFLOP/s / MatMul GFLOP/s = ${ratios.qin_gflops_over_matmul_gflops.toFixed(2)} (target >= 0.6)`,
    );
    console.log(`HTTP p99 at concurrency 1 = ${seq.p99.toFixed(2)} ms (target <= 20 ms)`);
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(
      join(REPO, 'bench', 'results', `score-${Date.now()}.json`),
      JSON.stringify(
        { emb: EMB, B, L, D, threads: THREADS, matmul, raw, flops, qinGflops, c1, sat, ratios },
        null,
        2,
      ),
    );
  } finally {
    child.kill('SIGTERM');
  }
}

main().catch((err: Error) => {
  console.error(err.stack);
  process.exit(1);
});
