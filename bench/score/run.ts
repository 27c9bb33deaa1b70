// Scoring benchmark: 1 user x 500 candidates, L = 64, D = 128, through the real HTTP service (Redis
// history + item features, score logging to Kafka), against the raw session.run of the same model and
// the machine's fp32 MatMul ceiling, for several models in one run.
//
// Usage: node -r ./scripts/register.js bench/score/run.ts [--models qin-e64,qin-demo,autoint-demo]
//        [--emb 64] [--model DIR] [--candidates 500] [--duration 10] [--connections 8] [--threads 2]
//        [--file model.int8.onnx] [--spinning 0|1] [--profile] [--profile-requests 300]
//        [--modes in-process,pool-2,processes-2 [--rounds 2]] [--machine 'description for the summary']
// --profile: per-stage p50 / p99 / max from the scorer's Server-Timing and its GC pauses (lib/profile.ts).
// --modes: the serving modes A/B instead of the full run (lib/modes.ts): in-process, pool-<threads>,
//   processes-<n>, mb (micro-batching), joined with +; the first of --models (default qin-demo).
// A full run also writes bench/results/score-summary.json (committed): the headline numbers per model,
// with the load average before and after. --modes writes bench/results/score-modes.json (committed).
// Model names: qin-e<N> = the QIN-shaped fixture graph at embedding N (make-test-model.py);
// <qin|autoint|din|lr>-<config> = the trainer's architecture with that config's hyper-parameters
// (apps/trainer/configs/<config>.json), random weights, exported by the trainer's own export code;
// anything else is an artifact folder. Needs the local stack and .venv (torch, onnx) to build models once.
import '../../test/setup/load-stack-env.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Agent } from 'node:http';
import { basename, join } from 'node:path';
import { percentile } from '@mmctr/observability';
import { arg, numberArg } from '../support/cli-args';
import { writeCommittedJson } from '../support/repo';
import { flopRatioInterleaved, matmulGflops, rawFixture, rawSession } from './lib/raw-session';
import { graphFlops, resolveModel } from './lib/models';
import { runModes } from './lib/modes';
import { formatProfile, profileScorer, type Profile } from './lib/profile';
import {
  ensureBenchTopic,
  http,
  post,
  seed,
  sequential,
  stageMeans,
  startHttpFloor,
  startScorer,
  warm,
} from './lib/scorer-process';
import { B, D, DURATION, FILE, L, REPO, SPINNING, THREADS } from './lib/settings';

const EMB = numberArg('emb', 64);
const CONNECTIONS = numberArg('connections', 8);
const PROFILE = process.argv.includes('--profile');
const PROFILE_REQUESTS = numberArg('profile-requests', 300);
// Cheap (≈ 0.5 ms each), and a p99 over 1000 is less noisy than over 300.
const FLOOR_REQUESTS = 1000;
const MACHINE = arg(
  'machine',
  `${cpus().length}-core ${process.arch} (${cpus()[0]?.model ?? 'unknown CPU'})`,
);

/** The HTTP floor's sequential latency: see startHttpFloor. */
async function httpFloor(body: string, nodeHttp = false): Promise<{ p50: number; p99: number }> {
  const { url, child } = await startHttpFloor(nodeHttp);
  try {
    return await sequential(url, body, FLOOR_REQUESTS);
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
  const { url, child } = await startScorer(
    dir,
    prefix,
    topic,
    PROFILE ? { SCORER_SERVER_TIMING: 'true' } : {},
  );
  try {
    await warm(url, body);
    const seq = await sequential(url, body, 300);
    const stages = await stageMeans(url);
    console.log(
      `HTTP sequential (hrtime, 300 requests): p50 ${seq.p50.toFixed(2)} ms, p99 ${seq.p99.toFixed(2)} ms; scorer stage means (ms): ${Object.entries(
        stages,
      )
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}`,
    );
    let profile: Profile | undefined;
    if (PROFILE) {
      profile = await profileScorer(url, body, PROFILE_REQUESTS);
      for (const line of formatProfile(profile)) console.log(line);
    }
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
      profile,
    };
  } finally {
    child.kill('SIGTERM');
  }
}

/** The comment at the top of this file, as --help prints it. */
function usage(): string {
  const lines = readFileSync(__filename, 'utf8').split('\n');
  const end = lines.findIndex((l) => !l.startsWith('//'));
  return lines
    .slice(0, end)
    .map((l) => l.replace(/^\/\/ ?/, ''))
    .join('\n');
}

/** --modes: the serving modes A/B on one model; writes bench/results/score-modes.json. */
async function modes(): Promise<void> {
  const names = arg('modes', '').split(',');
  const model = arg('model', '') || arg('models', 'qin-demo').split(',')[0]!;
  const dir = resolveModel(model);
  const topic = await ensureBenchTopic();
  const { body, prefix } = await seed('score');
  const loadBefore = loadavg();
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: REPO,
    encoding: 'utf8',
  }).trim();
  const out = await runModes(names, numberArg('rounds', 2), {
    dir,
    body,
    prefix,
    topic,
    connections: CONNECTIONS,
    profileRequests: PROFILE ? PROFILE_REQUESTS : undefined,
  });
  const file = join(REPO, 'bench', 'results', 'score-modes.json');
  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  const doc = {
    date: new Date().toISOString(),
    commit,
    machine: MACHINE,
    load_average: { before: loadBefore, after: loadavg() },
    request: { model, candidates: B, history: L, vector_dim: D, intra_op_threads: THREADS, file: FILE },
    connections: CONNECTIONS,
    duration_s: DURATION,
    ...out,
  };
  await writeCommittedJson(file, doc);
  console.log('modes: bench/results/score-modes.json');
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(usage());
    return;
  }
  if (process.argv.includes('--modes')) return modes();
  const loadBefore = loadavg();
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

  const topic = await ensureBenchTopic();
  const { body, prefix } = await seed('score');
  const floor = await httpFloor(body);
  const bareFloor = await httpFloor(body, true);
  console.log(
    `HTTP floor (Nest + Fastify, the same ${B}-candidate request and response JSON, no scoring work; sequential x${FLOOR_REQUESTS}): p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms; on bare node:http: p50 ${bareFloor.p50.toFixed(2)} ms, p99 ${bareFloor.p99.toFixed(2)} ms`,
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
        httpFloor: { before: floor, after: floorAfter, nodeHttp: bareFloor },
        results,
      },
      null,
      2,
    ),
  );
  console.log(`results: bench/results/${basename(file)}`);
  await writeSummary(
    results,
    { before: loadBefore, after: loadavg() },
    { nest_fastify: floor, node_http: bareFloor },
  );
}

/** bench/results/score-summary.json (committed): the headline numbers of this run per model. */
async function writeSummary(
  results: Awaited<ReturnType<typeof benchModel>>[],
  load: { before: number[]; after: number[] },
  floors: Record<'nest_fastify' | 'node_http', { p50: number; p99: number }>,
): Promise<void> {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: REPO,
    encoding: 'utf8',
  }).trim();
  const round = (x: number) => Math.round(x * 100) / 100;
  const summary = {
    date: new Date().toISOString(),
    commit,
    machine: MACHINE,
    load_average: load,
    request: { candidates: B, history: L, vector_dim: D, intra_op_threads: THREADS, file: FILE },
    http_floor: Object.fromEntries(
      Object.entries(floors).map(([k, f]) => [k, { p50_ms: round(f.p50), p99_ms: round(f.p99) }]),
    ),
    models: Object.fromEntries(
      results.map((r) => [
        r.name,
        {
          raw_p50_ms: round(r.raw.p50),
          raw_p99_ms: round(r.raw.p99),
          http_p50_ms: round(r.seq.p50),
          http_p99_ms: round(r.seq.p99),
          [`c${CONNECTIONS}_p99_ms`]: r.sat.p99,
          saturated_cand_per_s: Math.round(r.sat.candidatesPerS),
          saturated_cand_per_s_per_core: Math.round(r.sat.candidatesPerS / cpus().length),
          raw_cand_per_s: Math.round((B / r.raw.p50) * 1e3),
          ...(r.profile ? { profile: r.profile } : {}),
        },
      ]),
    ),
  };
  const file = join(REPO, 'bench', 'results', 'score-summary.json');
  await writeCommittedJson(file, summary);
  console.log('summary: bench/results/score-summary.json');
}

main().catch((err: Error) => {
  console.error(err.stack);
  process.exit(1);
});
