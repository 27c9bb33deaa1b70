// Scoring benchmark: 1 user x 500 candidates, L = 64, D = 128, through the real HTTP service (Redis
// history + item features, score logging to Kafka), against the raw session.run of the same model and
// the machine's fp32 MatMul ceiling, for several models in one run.
//
// Usage: node -r ./scripts/register.js bench/score/run.ts [--models qin-e64,qin-demo,autoint-demo]
//        [--emb 64] [--model DIR] [--candidates 500] [--duration 10] [--connections 8] [--threads 2]
//        [--file model.int8.onnx] [--spinning 0|1]
// Model names: qin-e<N> = the QIN-shaped fixture graph at embedding N (make-test-model.py);
// <qin|autoint|din|lr>-<config> = the trainer's architecture with that config's hyper-parameters
// (apps/trainer/configs/<config>.json), random weights, exported by the trainer's own export code;
// anything else is an artifact folder. Needs the local stack and .venv (torch, onnx) to build models once.
import '../../test/setup/load-stack-env.js';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { freePort } from '../../test/support/free-port';
import { sourcesHash } from '../../test/support/sources-hash';
import { TEST_MODEL_SCRIPT, testModelSourcesHash } from '../../apps/scorer/test/support/test-model-source';
import { arg, numberArg } from '../support/cli-args';
import { basename, join } from 'node:path';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import { loadConfig } from '@mmctr/config';
import { historyAgeBuckets, loadFeatureSpec } from '@mmctr/features';
import { createKafka, ensureTopics } from '@mmctr/kafka';
import { percentile } from '@mmctr/observability';
import { OnlineStore, createRedis, mmVectorKey } from '@mmctr/online-store';

const REPO = join(__dirname, '..', '..');
const PY = join(REPO, '.venv', 'bin', 'python');
const EMB = numberArg('emb', 64);
const B = numberArg('candidates', 500);
const DURATION = numberArg('duration', 10);
const CONNECTIONS = numberArg('connections', 8);
const THREADS = numberArg('threads', 2);
const FILE = arg('file', 'model.onnx');
// Same default as the scorer (SCORER_ORT_ALLOW_SPINNING=false), so raw and served runs compare like for like.
const SPINNING = arg('spinning', '0');
const SESSION_EXTRA = { session: { intra_op: { allow_spinning: SPINNING } } };
const L = 64;
const D = 128;

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

export function model(emb: number): string {
  const dir = join(REPO, '.cache', 'bench-models', `qin-e${emb}-${testModelSourcesHash()}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    execFileSync(PY, [TEST_MODEL_SCRIPT, dir, '--emb', String(emb), '--seed', '11'], {
      stdio: 'inherit',
    });
  }
  return dir;
}

/** The trainer's `arch` with `configs/<config>.json`'s hyper-parameters, random weights (cached by source hash). */
function trainerModel(arch: string, config: string): string {
  const trainer = join(REPO, 'apps', 'trainer');
  const pkg = join(trainer, 'mmctr_trainer');
  const sources = [
    join(trainer, 'configs', `${config}.json`),
    join(REPO, 'libs', 'features', 'feature_spec.json'),
    join(__dirname, 'make-default-models.py'),
    ...['export.py', 'features.py', 'train.py', 'config.py'].map((f) => join(pkg, f)),
    ...['models', 'layers'].flatMap((sub) =>
      readdirSync(join(pkg, sub))
        .filter((f) => f.endsWith('.py'))
        .map((f) => join(pkg, sub, f)),
    ),
  ];
  const root = join(REPO, '.cache', 'bench-models', `trainer-${sourcesHash(sources)}`);
  const dir = join(root, `${arch}-${config}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    execFileSync(
      PY,
      [join(__dirname, 'make-default-models.py'), root, '--config', config, '--models', arch],
      { stdio: 'inherit' },
    );
  }
  return dir;
}

/** Artifact folder of a model name (see the usage above). */
export function resolveModel(name: string): string {
  const fixture = /^qin-e(\d+)$/.exec(name);
  if (fixture) return model(Number(fixture[1]));
  const trainer = /^(qin|autoint|din|lr)-([\w-]+)$/.exec(name);
  if (trainer && !existsSync(name)) return trainerModel(trainer[1]!, trainer[2]!);
  if (!existsSync(join(name, 'model.onnx')))
    throw new Error(`${name}: no model.onnx (not an artifact folder)`);
  return name;
}

/** FLOPs of one request (MatMul/Gemm from the ONNX graph with shape inference: model-flops.py). */
function graphFlops(file: string, b: number, l: number): number {
  const out = execFileSync(PY, [
    join(__dirname, 'model-flops.py'),
    file,
    '--batch',
    String(b),
    '--history',
    String(l),
  ]);
  return (JSON.parse(out.toString()) as { flops: number }).flops;
}

const [MM_M, MM_K, MM_N] = [500, 1024, 1024];

async function matmulSession(extra?: typeof SESSION_EXTRA) {
  const file = join(REPO, '.cache', 'bench-models', `matmul-${MM_M}x${MM_K}x${MM_N}.onnx`);
  if (!existsSync(file))
    execFileSync(PY, [join(__dirname, 'make-matmul.py'), file, String(MM_M), String(MM_K), String(MM_N)]);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    ...(extra ? { extra } : {}),
  });
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: MM_M * MM_K }, (_, i) => Math.sin(i)),
    [MM_M, MM_K],
  );
  return { session, feeds: { X: x } };
}

const matmulGflopsOf = (ms: number) => (2 * MM_M * MM_K * MM_N) / (ms / 1e3) / 1e9;

async function matmulGflops(): Promise<{ gflops: number; p50: number }> {
  // The ceiling: onnxruntime defaults (pool threads spin), whatever the scorer is set to.
  const { session, feeds } = await matmulSession();
  const { p50 } = await timeRuns(() => session.run(feeds), 10, 100);
  await session.release();
  return { gflops: matmulGflopsOf(p50), p50 };
}

/**
 * Model vs MatMul FLOP rate with the runs alternating (one each, 100 times) and the same session
 * options for both, so a shared machine's changing load hits both alike.
 */
async function flopRatioInterleaved(dir: string, flops: number) {
  const mm = await matmulSession(SESSION_EXTRA);
  const model = await rawFixture(dir, FILE);
  const a: number[] = [];
  const b: number[] = [];
  try {
    for (let i = 0; i < 110; i++) {
      let t = process.hrtime.bigint();
      await mm.session.run(mm.feeds);
      const x = Number(process.hrtime.bigint() - t) / 1e6;
      t = process.hrtime.bigint();
      await model.session.run(model.feeds);
      const y = Number(process.hrtime.bigint() - t) / 1e6;
      if (i < 10) continue; // warm-up
      a.push(x);
      b.push(y);
    }
  } finally {
    await mm.session.release();
    await model.session.release();
  }
  a.sort((p, q) => p - q);
  b.sort((p, q) => p - q);
  const matmul = matmulGflopsOf(percentile(a, 50));
  const modelGflops = flops / (percentile(b, 50) / 1e3) / 1e9;
  return { matmul_gflops: matmul, model_gflops: modelGflops, ratio: modelGflops / matmul };
}

/** A session with the scorer's options and one request's inputs, ids spread over the spec's buckets. */
async function rawFixture(dir: string, file: string) {
  const session = await ort.InferenceSession.create(join(dir, file), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: SESSION_EXTRA,
  });
  const spec = loadFeatureSpec(join(dir, 'feature_spec.json'));
  const spread = (i: number, buckets: number) => BigInt(1 + ((i * 7919 + 13) % (buckets - 1)));
  const [items, cats, pos] = spec.candidate_fields.map((f) => f.buckets) as [number, number, number];
  const feeds: Record<string, ort.Tensor> = {
    user_fields: new ort.Tensor(
      'int64',
      BigInt64Array.from(spec.user_fields, (f, i) => spread(i + 3, f.buckets)),
      [1, spec.user_fields.length],
    ),
    hist_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: L }, (_, i) => spread(i, items)),
      [1, L],
    ),
    hist_tags: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: L * 5 }, (_, i) => spread(i, spec.tags.buckets)),
      [1, L, 5],
    ),
    hist_cat: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: L }, (_, i) => spread(i, cats)),
      [1, L],
    ),
    hist_mm: new ort.Tensor(
      'float32',
      Float32Array.from({ length: L * D }, (_, i) => Math.cos(i)),
      [1, L, D],
    ),
    cand_fields: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: B * 3 }, (_, i) =>
        spread(L + Math.floor(i / 3), [items, cats, Math.min(pos, 33)][i % 3]!),
      ),
      [B, 3],
    ),
    cand_tags: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: B * 5 }, (_, i) => spread(i + 7, spec.tags.buckets)),
      [B, 5],
    ),
    cand_mm: new ort.Tensor(
      'float32',
      Float32Array.from({ length: B * D }, (_, i) => Math.sin(i)),
      [B, D],
    ),
  };
  // Graphs exported with feature spec fs-2 also take hist_age; the fixture graphs don't.
  if (session.inputNames.includes('hist_age')) {
    feeds.hist_age = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: L }, (_, i) => spread(i, historyAgeBuckets(spec))),
      [1, L],
    );
  }
  return { session, feeds };
}

export async function rawSession(dir: string, file: string) {
  const { session, feeds } = await rawFixture(dir, file);
  const r = await timeRuns(() => session.run(feeds), 10, 200);
  const ctr = Array.from((await session.run(feeds)).ctr!.data as Float32Array);
  await session.release();
  return { ...r, ctr };
}

export async function seed(prefix: string): Promise<{ body: string }> {
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
  return { body };
}

/** One POST /v1/score on a keep-alive agent; rejects unless 200. */
function post(url: string, body: string, agent: Agent): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise<void>((resolve, reject) => {
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
}

/** Sequential requests on one keep-alive connection, timed with hrtime (autocannon rounds to ms). */
async function sequential(url: string, body: string, n: number) {
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
    candidatesPerS: result.requests.average * B,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Polls the scorer's stage histograms: mean ms per stage since the scorer started. */
async function stageMeans(url: string): Promise<Record<string, number>> {
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

export async function startScorer(
  dir: string,
  prefix: string,
  topic: string,
  env: Record<string, string> = {},
) {
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

/** The framework-only server (http-floor-server.ts): the same request and response JSON, no work. */
async function httpFloor(body: string): Promise<{ p50: number; p99: number }> {
  const child = spawn(
    process.execPath,
    ['-r', join(REPO, 'scripts/register.js'), join(__dirname, 'http-floor-server.ts')],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`http floor server exited (${code})`)));
    });
    return await sequential(`http://127.0.0.1:${port}`, body, 300);
  } finally {
    child.kill('SIGTERM');
  }
}

/** One raw session.run, one HTTP request, alternately: the ratio under the same (shared) load. */
async function interleaved(dir: string, url: string, body: string, n: number) {
  const rawMs: number[] = [];
  const httpMs: number[] = [];
  const { session, feeds } = await rawFixture(dir, FILE);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 10; i++) await session.run(feeds);
    for (let i = 0; i < n; i++) {
      let t = process.hrtime.bigint();
      await session.run(feeds);
      rawMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      t = process.hrtime.bigint();
      await post(url, body, agent);
      httpMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } finally {
    agent.destroy();
    await session.release();
  }
  rawMs.sort((a, b) => a - b);
  httpMs.sort((a, b) => a - b);
  return {
    raw_p50: percentile(rawMs, 50),
    http_p50: percentile(httpMs, 50),
    ratio: percentile(httpMs, 50) / percentile(rawMs, 50),
  };
}

async function benchModel(
  name: string,
  body: string,
  prefix: string,
  topic: string,
  matmul: number,
  floorP50: number,
) {
  const dir = resolveModel(name);
  // From the fp32 graph: a quantised one has MatMulInteger ops instead, for the same arithmetic.
  const flops = graphFlops(join(dir, 'model.onnx'), B, L);
  const raw = await rawSession(dir, FILE);
  if (FILE !== 'model.onnx') {
    const ref = await rawSession(dir, 'model.onnx');
    const diff = Math.max(...raw.ctr.map((c, i) => Math.abs(c - ref.ctr[i]!)));
    console.log(
      `  ${FILE} vs model.onnx: p50 ${raw.p50.toFixed(2)} vs ${ref.p50.toFixed(2)} ms, max |ctr diff| ${diff.toExponential(2)}`,
    );
  }
  const gflops = flops / (raw.p50 / 1e3) / 1e9;
  const flopPair = await flopRatioInterleaved(dir, flops);
  console.log(
    `\n## ${name} (${dir})\nraw session.run (B=${B}): p50 ${raw.p50.toFixed(2)} ms, p99 ${raw.p99.toFixed(2)} ms; ${(flops / 1e6).toFixed(1)} MFLOP (MatMul/Gemm from the graph) -> ${gflops.toFixed(1)} GFLOP/s = ${(gflops / matmul).toFixed(2)} of MatMul`,
  );
  console.log(
    `interleaved with the MatMul graph (same session options, alternating x100): model ${flopPair.model_gflops.toFixed(1)} / MatMul ${flopPair.matmul_gflops.toFixed(1)} GFLOP/s = ${flopPair.ratio.toFixed(2)}`,
  );
  const { url, child } = await startScorer(dir, prefix, topic);
  try {
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
    const stages = await stageMeans(url);
    console.log(
      `HTTP sequential (hrtime, 300 requests): p50 ${seq.p50.toFixed(2)} ms, p99 ${seq.p99.toFixed(2)} ms; scorer stage means (ms): ${Object.entries(
        stages,
      )
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}`,
    );
    const pair = await interleaved(dir, url, body, 150);
    console.log(
      `interleaved (raw run, HTTP request, alternately x150): raw p50 ${pair.raw_p50.toFixed(2)}, HTTP p50 ${pair.http_p50.toFixed(2)} ms -> ${pair.ratio.toFixed(2)}`,
    );
    const c1 = await http(url, body, 1);
    const sat = await http(url, body, CONNECTIONS);
    const row = (label: string, r: typeof c1) =>
      `${label.padEnd(20)} p50 ${String(r.p50).padStart(5)} ms  p99 ${String(r.p99).padStart(5)} ms  ${r.rps.toFixed(1).padStart(7)} req/s  ${Math.round(r.candidatesPerS).toString().padStart(7)} candidates/s  non-2xx ${r.non2xx} errors ${r.errors}`;
    console.log(row('autocannon c=1', c1));
    console.log(row(`autocannon c=${CONNECTIONS}`, sat));
    child.kill('SIGTERM');
    // Raw again with the scorer stopped: the machine is shared, so bracket the HTTP runs.
    const rawAfter = await rawSession(dir, FILE);
    const ratios = {
      http_p50_over_raw_p50: seq.p50 / raw.p50,
      http_p50_over_raw_after_p50: seq.p50 / rawAfter.p50,
      interleaved_http_p50_over_raw_p50: pair.ratio,
      model_gflops_over_matmul_gflops: gflops / matmul,
      interleaved_model_gflops_over_matmul_gflops: flopPair.ratio,
      http_p99_ms: seq.p99,
      // What HTTP ÷ raw would be if the scorer added nothing beyond the framework's floor.
      floor_bound_http_over_raw: (raw.p50 + floorP50) / raw.p50,
    };
    console.log(
      `raw after: p50 ${rawAfter.p50.toFixed(2)} ms. HTTP p50 / raw p50 = ${ratios.http_p50_over_raw_p50.toFixed(2)} (before), ${ratios.http_p50_over_raw_after_p50.toFixed(2)} (after), ${pair.ratio.toFixed(2)} (interleaved); target <= 1.2; with only the HTTP floor it would be ${ratios.floor_bound_http_over_raw.toFixed(2)}`,
    );
    return {
      name,
      dir,
      flops,
      raw: { p50: raw.p50, p99: raw.p99 },
      rawAfter: { p50: rawAfter.p50, p99: rawAfter.p99 },
      gflops,
      flopPair,
      seq,
      stages,
      interleaved: pair,
      c1,
      sat,
      ratios,
    };
  } finally {
    child.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const single = arg('model', '');
  const names = single
    ? [single]
    : process.argv.includes('--emb')
      ? [`qin-e${EMB}`]
      : arg('models', 'qin-e64,qin-demo,autoint-demo').split(',');
  console.log(
    `# scoring benchmark: 1 user x ${B} candidates, L=${L}, D=${D}, ${THREADS} intra-op threads, spinning ${SPINNING}, models ${names.join(', ')}`,
  );
  names.forEach(resolveModel); // build what is missing before anything is timed
  const matmul = await matmulGflops();
  console.log(
    `MatMul 500x1024 @ 1024x1024: p50 ${matmul.p50.toFixed(2)} ms = ${matmul.gflops.toFixed(1)} GFLOP/s`,
  );

  const prefix = `bench:${Date.now()}:`;
  const topic = await ensureBenchTopic();
  const { body } = await seed(prefix);
  const floor = await httpFloor(body);
  console.log(
    `HTTP floor (Nest + Fastify, the same ${B}-candidate request and response JSON, no scoring work; sequential x300): p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms`,
  );
  const results = [];
  for (const name of names)
    results.push(await benchModel(name, body, prefix, topic, matmul.gflops, floor.p50));
  const floorAfter = await httpFloor(body);
  console.log(`\nHTTP floor again: p50 ${floorAfter.p50.toFixed(2)} ms (before: ${floor.p50.toFixed(2)})`);
  const matmulAfter = await matmulGflops();
  console.log(
    `\nMatMul again: ${matmulAfter.gflops.toFixed(1)} GFLOP/s (before: ${matmul.gflops.toFixed(1)})`,
  );

  console.log(
    '\n| model | MFLOP | raw p50 / p99 ms | HTTP p50 / p99 ms (seq.) | HTTP/raw p50 (before, after, interleaved) | HTTP/raw with only the HTTP floor | model/MatMul FLOP rate (vs ceiling, interleaved) | cand/s c=1 / saturated |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${(r.flops / 1e6).toFixed(1)} | ${r.raw.p50.toFixed(2)} / ${r.raw.p99.toFixed(2)} | ${r.seq.p50.toFixed(2)} / ${r.seq.p99.toFixed(2)} | ${r.ratios.http_p50_over_raw_p50.toFixed(2)}, ${r.ratios.http_p50_over_raw_after_p50.toFixed(2)}, ${r.ratios.interleaved_http_p50_over_raw_p50.toFixed(2)} | ${r.ratios.floor_bound_http_over_raw.toFixed(2)} | ${r.ratios.model_gflops_over_matmul_gflops.toFixed(2)}, ${r.ratios.interleaved_model_gflops_over_matmul_gflops.toFixed(2)} | ${Math.round(r.c1.candidatesPerS)} / ${Math.round(r.sat.candidatesPerS)} |`,
    );
  }
  console.log('targets: HTTP/raw p50 <= 1.2, QIN FLOP rate >= 0.6 of MatMul, QIN HTTP p99 <= 20 ms');
  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  const file = join(REPO, 'bench', 'results', `score-${Date.now()}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        B,
        L,
        D,
        threads: THREADS,
        spinning: SPINNING,
        file: FILE,
        matmul,
        matmulAfter,
        httpFloor: { before: floor, after: floorAfter },
        results,
      },
      null,
      2,
    ),
  );
  console.log(`results: bench/results/${basename(file)}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(err.stack);
    process.exit(1);
  });
}
